//! TODO: select (placeholder, replaced by its owner).

//! TODO: resources (placeholder, replaced by its owner).

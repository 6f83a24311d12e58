//! TODO: sim (placeholder, replaced by its owner).

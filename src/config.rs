//! TODO: config (placeholder, replaced by its owner).

//! TODO: metrics (placeholder, replaced by its owner).

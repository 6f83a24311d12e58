//! TODO: cli (placeholder, replaced by its owner).

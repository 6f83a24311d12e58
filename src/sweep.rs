//! TODO: sweep (placeholder, replaced by its owner).

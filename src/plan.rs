//! TODO: plan (placeholder, replaced by its owner).

//! TODO: daemon (placeholder, replaced by its owner).

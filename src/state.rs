//! TODO: state (placeholder, replaced by its owner).

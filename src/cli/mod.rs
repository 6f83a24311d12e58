//! TODO: cli (placeholder, replaced by its owner).

pub mod daemon;

//! TODO: report (placeholder, replaced by its owner).

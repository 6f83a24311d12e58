//! TODO: telemetry (placeholder, replaced by its owner).

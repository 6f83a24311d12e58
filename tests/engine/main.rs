//! The engine: sweeps against the simulator over loopback, quota and preflight, and property tests of plan and execution on an in-memory cloud.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod kinds;
mod ownership;
mod pacing;
mod preflight;
mod props;
mod quota;
mod sweep;

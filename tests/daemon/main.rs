//! The daemon: scheduling, reloads and shutdown with fake runners; the engine runner against the simulator; quota metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod etcd;
mod fake;
mod multi;
mod quota;
mod shard;
mod sim;
mod tokens;
mod units;

//! The binary as a user runs it: bad input, TLS options, the demo, the deployment files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod demo;
mod deploy;
mod signals;
mod tls;
mod units;

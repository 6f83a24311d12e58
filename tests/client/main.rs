//! The OpenStack client against fake clouds and the simulator: pagination, sessions (auth, re-auth, retries), TLS, secrets, and the real cloud when one is given.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod paginate;
mod realcloud;
mod secrets;
mod session;
mod sim;
mod tls;
mod tokens;

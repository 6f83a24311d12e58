//! The safety promises under stress: random projects against an oracle, faults, outages, garbage answers, crashes, secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod crash;
mod faults;
mod garbage;
mod outages;
mod props;
mod secrets;

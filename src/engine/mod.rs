//! The engine: one sweep of one project, as data flows through it. [`connect`]
//! authenticates a target; [`inventory`] lists every kind; [`select`] judges each
//! resource; [`plan`] orders what goes from live references; [`execute`] carries the
//! plan out; [`report`] says what happened. [`Job`] and [`run`] tie them together and are
//! the one entry point of `sweep`, `daemon` and `demo`.
//!
//! The engine knows nothing of the config file, the command line or the daemon: callers
//! hand it a [`JobSpec`] (built from the config by [`crate::config::Config::job`]).
//! [`preflight`] and [`quota`] are read-only companions of a sweep. A target covers one
//! or more [`unit`]s (a project of a region), each swept as its own job.

mod connect;
pub mod execute;
pub mod inventory;
mod job;
pub mod plan;
pub mod preflight;
pub mod quota;
pub mod report;
pub mod select;
pub mod unit;

pub use connect::{ConnectError, ConnectSpec};
pub use execute::{DeleteBudget, SweepOptions};
pub use job::{list, run, run_with, Job, JobSpec, SweepError, SweepHooks, Swept};

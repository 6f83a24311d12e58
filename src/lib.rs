//! stacksweep: finds the resources CI jobs leaked into OpenStack projects and deletes them
//! in dependency order, without ever touching what it was not asked to touch.
//!
//! The crate is layered so that each layer knows only the one below it:
//! - [`openstack`] talks HTTP to a cloud (auth, catalog, retries, pagination) and knows
//!   nothing of selection;
//! - [`resources`] knows, per kind, how to list, read, detach and delete a resource;
//! - [`select`], [`plan`], [`sweep`] and [`report`] are the engine: which resources are
//!   ours, in what order they can go, carrying that out, and saying what happened;
//! - [`config`], [`cli`], [`daemon`], [`metrics`] and [`telemetry`] are the product around it.
//!
//! The in-memory OpenStack that tests, benchmarks and the demo run against is a crate of
//! its own, `stacksweep-sim` (`sim/`): it uses nothing of this one, and only the `sim` and
//! `demo` subcommands use it here.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod inventory;
pub mod metrics;
pub mod openstack;
pub mod plan;
pub mod preflight;
pub mod quota;
pub mod report;
pub mod resources;
pub mod select;
pub mod state;
pub mod sweep;
pub mod telemetry;

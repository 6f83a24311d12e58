//! stacksweep: finds the resources CI jobs leaked into OpenStack projects and deletes them
//! in dependency order, without ever touching what it was not asked to touch.
//!
//! The crate is layered so that each layer knows only the ones below it; the arrows run
//! one way: command line (the binary's `cli`) → [`daemon`] → [`engine`] → [`resources`] →
//! [`openstack`].
//! - [`openstack`] talks HTTP to a cloud (auth, catalog, retries, pagination) and knows
//!   nothing of selection;
//! - [`resources`] knows, per kind, how to list, read, detach and delete a resource;
//! - [`engine`] sweeps one project: inventory, select, plan, execute, report, with
//!   [`engine::Job`] and [`engine::run`] as its one entry point;
//! - [`daemon`] runs the engine on a schedule with the grace period, metrics and health;
//! - [`config`] validates the TOML file into typed targets and selectors and turns them
//!   into engine jobs ([`config::Config::job`]); [`metrics`] and [`telemetry`] serve the
//!   daemon and the binary.
//!
//! The in-memory OpenStack that tests, benchmarks and the demo run against is a crate of
//! its own, `stacksweep-sim` (`sim/`): it uses nothing of this one, and this library uses
//! nothing of it; only the binary's `sim` and `demo` subcommands do.

pub mod config;
pub mod coord;
pub mod daemon;
pub mod engine;
pub mod metrics;
pub mod openstack;
pub mod resources;
pub mod telemetry;

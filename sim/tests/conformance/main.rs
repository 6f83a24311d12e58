//! The simulator answers as the real services do: paths, JSON shapes, status codes and
//! error bodies of Keystone, Nova, Neutron, Cinder and the rest, conflicts and faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod chaos;
mod compute;
mod extensions;
mod faults;
mod keystone;
mod neutron;
mod scenarios;
mod services;
mod volume;

//! The simulator answers as the real services do: paths, JSON shapes, status codes and
//! error bodies of Keystone, Nova, Neutron, Cinder and the rest, conflicts and faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod barbican;
mod chaos;
mod compute;
mod designate;
mod extensions;
mod faults;
mod keystone;
mod manila;
mod neutron;
mod regions;
mod scenarios;
mod services;
mod volume;

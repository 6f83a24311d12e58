//! Octavia's model: load balancers and their listeners and pools.

use crate::store::Table;

/// Octavia's resources.
#[derive(Debug, Default)]
pub struct OctaviaState {
    /// Load balancers.
    pub loadbalancers: Table,
    /// Listeners (children of a load balancer).
    pub listeners: Table,
    /// Pools (children of a load balancer).
    pub pools: Table,
}

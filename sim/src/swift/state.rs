//! Swift's model: containers, each holding its objects.

use crate::store::Table;

/// Swift's resources: containers (id = name), each holding its objects.
#[derive(Debug, Default)]
pub struct SwiftState {
    /// Containers; objects live under the private `_objects` key.
    pub containers: Table,
}

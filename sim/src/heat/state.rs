//! Heat's model: the stacks.

use crate::store::Table;

/// Heat's resources.
#[derive(Debug, Default)]
pub struct HeatState {
    /// Stacks.
    pub stacks: Table,
}

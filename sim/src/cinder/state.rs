//! Cinder's model: volumes, their snapshots and backups.

use crate::store::{str_of, Table};

/// Cinder's resources.
#[derive(Debug, Default)]
pub struct CinderState {
    /// Volumes.
    pub volumes: Table,
    /// Snapshots.
    pub snapshots: Table,
    /// Backups (`_parent`: the backup an incremental builds on).
    pub backups: Table,
}

impl CinderState {
    /// Removes a volume and its snapshots at once (no checks).
    pub fn remove_volume(&mut self, id: &str) {
        self.volumes.remove(id);
        let snaps: Vec<String> = self
            .snapshots
            .values()
            .filter(|s| str_of(s, "volume_id") == id)
            .map(|s| str_of(s, "id").to_string())
            .collect();
        for s in snaps {
            self.snapshots.remove(&s);
        }
    }

    pub(super) fn snapshots_of(&self, volume_id: &str) -> Vec<String> {
        self.snapshots
            .values()
            .filter(|s| str_of(s, "volume_id") == volume_id)
            .map(|s| str_of(s, "id").to_string())
            .collect()
    }
}

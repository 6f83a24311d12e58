//! Seeded scenarios (placeholder until its step lands).

use super::store::SimState;

/// A scenario to seed.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name.
    pub name: String,
}

/// What a sweep with `tag` must delete and must keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// `(kind, id)` a sweep must delete.
    pub selected: Vec<(String, String)>,
    /// `(kind, id)` a sweep must keep.
    pub survivors: Vec<(String, String)>,
    /// The tag that selects.
    pub tag: String,
}

/// Seeds `scenario` into `project`.
pub fn seed(state: &mut SimState, project: &str, scenario: &Scenario) -> Manifest {
    let _ = (state, project, scenario);
    Manifest::default()
}

//! The unit of work: one project of one region of one target. A target names its
//! projects (explicitly, or a pattern within a domain) and regions; [`discover`] turns it
//! into units by asking Keystone which projects the credential may scope to
//! (`GET /v3/auth/projects`) and which regions its catalog offers. Each unit is then
//! swept on its own token, scoped to its project, so Keystone itself keeps every other
//! project out of its listings.
//!
//! A unit has a stable [`Unit::key`], so that work can be shared out between replicas.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::connect::{ConnectError, ConnectSpec};
use crate::openstack::{AuthMethod, Service, Session};

/// One project of one region of one target: what one sweep covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Unit {
    /// The target's label.
    pub target: String,
    /// The project's ID (empty for a target's own project before it is connected).
    pub project_id: String,
    /// The project's name, when known.
    pub project_name: String,
    /// The region (`None`: the cloud's own `region_name`).
    pub region: Option<String>,
}

impl Unit {
    /// `target/project/region`, stable across runs and replicas (the project by ID when
    /// known, the region `-` when it is the cloud's own).
    pub fn key(&self) -> String {
        let project = match self.project_id.is_empty() {
            true => self.project_name.as_str(),
            false => self.project_id.as_str(),
        };
        format!(
            "{}/{}/{}",
            self.target,
            project,
            self.region.as_deref().unwrap_or("-")
        )
    }

    /// The project as people read it: its name, else its ID.
    pub fn project_label(&self) -> &str {
        match self.project_name.is_empty() {
            true => &self.project_id,
            false => &self.project_name,
        }
    }

    /// The connection of this unit: the target's credential scoped to the unit's
    /// project (by ID) in the unit's region.
    pub fn connect_spec(&self, target: &ConnectSpec, app_credential: bool) -> ConnectSpec {
        let mut spec = target.clone();
        // An application credential is bound to its project: no override (discovery made
        // sure the unit's project is that one).
        if !app_credential && !self.project_id.is_empty() {
            spec.project = Some(self.project_id.clone());
            spec.project_name = Some(self.project_name.clone());
        }
        if self.region.is_some() {
            spec.region = self.region.clone();
        }
        spec
    }
}

/// Which projects a target sweeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectPick {
    /// A project's exact name or ID; not finding it is an error.
    Exact(String),
    /// A name pattern: `*` any run of characters, `?` one character.
    Pattern(String),
}

impl ProjectPick {
    /// `ci-*` and `ci-?` are patterns; anything else is a name or ID.
    pub fn parse(text: &str) -> ProjectPick {
        match text.contains(['*', '?']) {
            true => ProjectPick::Pattern(text.to_owned()),
            false => ProjectPick::Exact(text.to_owned()),
        }
    }

    fn matches(&self, project: &Project) -> bool {
        match self {
            ProjectPick::Exact(p) => *p == project.id || *p == project.name,
            ProjectPick::Pattern(p) => glob_match(p, &project.name),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            ProjectPick::Exact(p) | ProjectPick::Pattern(p) => p,
        }
    }
}

/// Which regions a target sweeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RegionPick {
    /// The target's `region` (else the cloud's `region_name`): one.
    #[default]
    Own,
    /// These, in this order.
    List(Vec<String>),
    /// Every region of the catalog offering a service we sweep.
    All,
}

/// A target's projects and regions, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitsSpec {
    /// The projects; empty: the credential's own project (one).
    pub projects: Vec<ProjectPick>,
    /// Only projects of this domain (ID or name as `/v3/auth/projects` shows its
    /// `domain_id`); `None`: any.
    pub domain: Option<String>,
    /// The regions.
    pub regions: RegionPick,
}

impl UnitsSpec {
    /// Whether the target is one project of one region as configured, needing no
    /// discovery (the shape every target had before projects and regions).
    pub fn is_single(&self) -> bool {
        self.projects.is_empty() && self.regions == RegionPick::Own
    }
}

/// A project the credential may scope to, as `/v3/auth/projects` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Project {
    /// ID.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Its domain.
    #[serde(default)]
    pub domain_id: String,
    /// Disabled projects cannot be scoped to.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// What discovery found: the units to sweep, and what could not become one (an explicit
/// project not found, one refused by the allow-list), each a failed unit of its own.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Units, in a stable order (project name, then region as listed).
    pub units: Vec<Unit>,
    /// Failures, each with the unit it stands for as far as it is known.
    pub failed: Vec<(Unit, ConnectError)>,
    /// Whether the credential is an application credential (bound to its project: the
    /// units connect without a project override).
    pub app_credential: bool,
}

/// Glob matching of a project name: `*` any run of characters (none included), `?` one.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Picks the units among the projects the credential may scope to and the catalog's
/// regions: pure, so that it is tested without a cloud.
pub fn pick(
    target: &str,
    spec: &UnitsSpec,
    projects: &[Project],
    own_project: &Project,
    catalog_regions: &BTreeSet<String>,
    allowed: &[String],
) -> Discovery {
    let mut out = Discovery::default();
    let regions: Vec<Option<String>> = match &spec.regions {
        RegionPick::Own => vec![None],
        RegionPick::List(list) => list.iter().cloned().map(Some).collect(),
        RegionPick::All => catalog_regions.iter().cloned().map(Some).collect(),
    };
    let unit = |p: &Project, region: &Option<String>| Unit {
        target: target.to_owned(),
        project_id: p.id.clone(),
        project_name: p.name.clone(),
        region: region.clone(),
    };
    let mut chosen: Vec<&Project> = Vec::new();
    if spec.projects.is_empty() {
        chosen.push(own_project);
    }
    let in_domain = |p: &Project| spec.domain.as_ref().is_none_or(|d| *d == p.domain_id);
    for pick in &spec.projects {
        let found: Vec<&Project> = projects
            .iter()
            .filter(|p| p.enabled && in_domain(p) && pick.matches(p))
            .collect();
        if found.is_empty() {
            if let ProjectPick::Exact(name) = pick {
                let missing = Unit {
                    target: target.to_owned(),
                    project_id: String::new(),
                    project_name: name.clone(),
                    region: None,
                };
                let e = ConnectError::ProjectNotFound {
                    target: target.to_owned(),
                    project: name.clone(),
                };
                out.failed.push((missing, e));
            }
        }
        for p in found {
            if !chosen.iter().any(|c| c.id == p.id) {
                chosen.push(p);
            }
        }
    }
    chosen.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    for p in chosen {
        if !allowed.is_empty() && !allowed.iter().any(|a| *a == p.id || *a == p.name) {
            let e = ConnectError::NotAllowed {
                target: target.to_owned(),
                project: p.id.clone(),
                allowed: allowed.join(", "),
            };
            out.failed.push((unit(p, &None), e));
            continue;
        }
        for region in &regions {
            out.units.push(unit(p, region));
        }
    }
    out
}

/// The units of a target: asks Keystone (with the target's credential, scoped as its
/// cloud is) which projects it may scope to and which regions its catalog offers, then
/// [`pick`]s. Nothing is listed in any project. An error here is the whole target's.
pub async fn discover(connect: &ConnectSpec, spec: &UnitsSpec) -> Result<Discovery, ConnectError> {
    let cloud = connect.cloud_config()?;
    let app_credential = matches!(cloud.auth(), AuthMethod::ApplicationCredential { .. });
    // The region is the unit's business: discovery only needs Keystone.
    let mut discovery_spec = connect.clone();
    discovery_spec.region = None;
    let session = discovery_spec.connect_without_checks().await?;
    let own = Project {
        id: session.project_id().to_owned(),
        name: match session.project_name() {
            "" => own_name(&cloud).unwrap_or_default(),
            name => name.to_owned(),
        },
        domain_id: String::new(),
        enabled: true,
    };
    let projects = match app_credential {
        // Bound to its project: the only one it may sweep.
        true => vec![own.clone()],
        false => list_projects(&session, &connect.target).await?,
    };
    let own = projects
        .iter()
        .find(|p| p.id == own.id)
        .cloned()
        .unwrap_or(own);
    // Every pick must name (or match) the credential's own project: anything else
    // could only be silence, or another credential's business.
    if app_credential && spec.projects.iter().any(|p| !p.matches(&own)) {
        return Err(ConnectError::AppCredBound {
            target: connect.target.clone(),
            bound: own.id.clone(),
            asked: spec
                .projects
                .iter()
                .map(ProjectPick::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let regions = session.catalog_regions().await;
    let mut discovery = pick(
        &connect.target,
        spec,
        &projects,
        &own,
        &regions,
        &connect.allowed_projects,
    );
    discovery.app_credential = app_credential;
    Ok(discovery)
}

fn own_name(cloud: &crate::openstack::CloudConfig) -> Option<String> {
    match cloud.auth() {
        AuthMethod::Password { project, .. } => project.name.clone(),
        AuthMethod::ApplicationCredential { .. } => None,
    }
}

/// `GET /v3/auth/projects`: the projects the credential's user may scope a token to
/// (works for a non-admin user, unlike `/v3/projects`).
async fn list_projects(session: &Session, target: &str) -> Result<Vec<Project>, ConnectError> {
    let body = session
        .get(Service::Identity, "/auth/projects")
        .await
        .map_err(|source| ConnectError::Discovery {
            target: target.to_owned(),
            source: Box::new(source),
        })?;
    Ok(body
        .get("projects")
        .and_then(|p| p.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|p| serde_json::from_value::<Project>(p.clone()).ok())
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn project(id: &str, name: &str, domain: &str) -> Project {
        Project {
            id: id.into(),
            name: name.into(),
            domain_id: domain.into(),
            enabled: true,
        }
    }

    fn projects() -> Vec<Project> {
        vec![
            project("p1", "ci-1", "default"),
            project("p2", "ci-2", "default"),
            project("p3", "cx-1", "default"),
            project("p4", "ci", "default"),
            project("p5", "ci-9", "other"),
        ]
    }

    fn regions() -> BTreeSet<String> {
        ["RegionOne", "RegionTwo"].map(String::from).into()
    }

    fn keys(d: &Discovery) -> Vec<String> {
        d.units.iter().map(Unit::key).collect()
    }

    /// `*` and `?` match as in a shell; the rest literally, the whole name.
    #[test]
    fn glob_matches_whole_names() {
        assert!(glob_match("ci-*", "ci-1"));
        assert!(glob_match("ci-*", "ci-"));
        assert!(!glob_match("ci-*", "ci"));
        assert!(!glob_match("ci-*", "xci-1"));
        assert!(glob_match("ci-?", "ci-2"));
        assert!(!glob_match("ci-?", "ci-22"));
        assert!(glob_match("*-1", "cx-1"));
        assert!(glob_match("c*-*1", "ci-a-1"));
        assert!(!glob_match("ci", "ci-1"));
    }

    /// A pattern within a domain and `all` regions give one unit per project and region,
    /// and nothing outside the pattern (the look-alike `cx-1`, the bare `ci`) or domain.
    #[test]
    fn pattern_in_domain_times_regions() {
        let spec = UnitsSpec {
            projects: vec![ProjectPick::parse("ci-*")],
            domain: Some("default".into()),
            regions: RegionPick::All,
        };
        let own = project("p4", "ci", "default");
        let d = pick("t", &spec, &projects(), &own, &regions(), &[]);
        assert_eq!(
            keys(&d),
            [
                "t/p1/RegionOne",
                "t/p1/RegionTwo",
                "t/p2/RegionOne",
                "t/p2/RegionTwo"
            ]
        );
        assert!(d.failed.is_empty());
    }

    /// An explicit name or ID not found is a failed unit naming it, not silence; the
    /// allow-list refuses a discovered project it does not name.
    #[test]
    fn missing_and_refused_projects_are_failures() {
        let spec = UnitsSpec {
            projects: vec![
                ProjectPick::parse("p2"),
                ProjectPick::parse("ci-1"),
                ProjectPick::parse("nope"),
            ],
            domain: None,
            regions: RegionPick::Own,
        };
        let own = project("p4", "ci", "default");
        let d = pick("t", &spec, &projects(), &own, &regions(), &["ci-1".into()]);
        assert_eq!(keys(&d), ["t/p1/-"]);
        let failed: Vec<String> = d.failed.iter().map(|(_, e)| e.to_string()).collect();
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(failed[0].contains("\"nope\""), "{failed:?}");
        assert!(failed[1].contains("not in safety.projects"), "{failed:?}");
    }

    /// No `projects`: the credential's own project, once per listed region.
    #[test]
    fn own_project_per_region() {
        let spec = UnitsSpec {
            projects: vec![],
            domain: None,
            regions: RegionPick::List(vec!["RegionTwo".into(), "RegionOne".into()]),
        };
        let own = project("p4", "ci", "default");
        let d = pick("t", &spec, &projects(), &own, &regions(), &[]);
        assert_eq!(keys(&d), ["t/p4/RegionTwo", "t/p4/RegionOne"]);
        assert!(!spec.is_single());
        assert!(UnitsSpec::default().is_single());
    }
}

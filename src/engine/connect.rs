//! Connecting to one target's project: resolve its credentials (clouds.yaml / `OS_*`)
//! with the target's overrides, authenticate, and refuse a project outside the
//! allow-list before anything is listed.

use crate::openstack::{ApiError, AuthMethod, CloudConfig, CloudsError, Session, SessionOptions};

/// Which cloud and project a job sweeps, and how its session talks to the cloud.
#[derive(Debug, Clone)]
pub struct ConnectSpec {
    /// The target's label, named in every error.
    pub target: String,
    /// Cloud name in `clouds.yaml` (`envvars` for the `OS_*` variables alone).
    pub cloud: String,
    /// Overrides the cloud's `region_name`.
    pub region: Option<String>,
    /// Overrides the cloud's project (name or ID).
    pub project: Option<String>,
    /// The project's name when `project` is its ID (a discovered unit's), so that an
    /// allow-list of names still admits it.
    pub project_name: Option<String>,
    /// Projects (IDs or names) this target may sweep; empty: any.
    pub allowed_projects: Vec<String>,
    /// Retry, pacing and observer of the session.
    pub session: SessionOptions,
}

/// Why a target could not be connected to. Nothing was listed or deleted.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The cloud is unknown or its credentials are incomplete.
    #[error("target {target:?}: cannot resolve cloud {cloud:?}")]
    Resolve {
        /// The target's label.
        target: String,
        /// The cloud it names.
        cloud: String,
        /// What clouds.yaml / `OS_*` lacked.
        #[source]
        source: Box<CloudsError>,
    },
    /// The project override does not fit the cloud's auth method.
    #[error("target {target:?}: cannot override the project")]
    Project {
        /// The target's label.
        target: String,
        /// Why.
        #[source]
        source: Box<CloudsError>,
    },
    /// Keystone refused the credentials, or could not be reached.
    #[error("target {target:?}: cannot authenticate to cloud {cloud:?}")]
    Auth {
        /// The target's label.
        target: String,
        /// The cloud it names.
        cloud: String,
        /// The client's error.
        #[source]
        source: Box<ApiError>,
    },
    /// The sweep was cancelled (SIGTERM, the daemon's deadline) before the connection
    /// was made.
    #[error("target {target:?}: cancelled while connecting; nothing was listed or deleted")]
    Cancelled {
        /// The target's label.
        target: String,
    },
    /// The region is not in the catalog (a typo, or a region without any service we sweep).
    #[error("target {target:?}: region {region:?} is not in the catalog (regions offering a service we sweep: {offered})")]
    NoRegion {
        /// The target's label.
        target: String,
        /// The region asked for.
        region: String,
        /// The catalog's regions, comma-separated.
        offered: String,
    },
    /// Keystone would not list the projects the credential may scope to.
    #[error(
        "target {target:?}: cannot list the projects of the credential (GET /v3/auth/projects)"
    )]
    Discovery {
        /// The target's label.
        target: String,
        /// The client's error.
        #[source]
        source: Box<ApiError>,
    },
    /// A project named explicitly in `projects` is not one the credential may scope to.
    #[error("target {target:?}: project {project:?} (in projects) is not among the projects the credential may scope to")]
    ProjectNotFound {
        /// The target's label.
        target: String,
        /// The name or ID as written.
        project: String,
    },
    /// An application credential is bound to its own project; it cannot sweep others.
    #[error("target {target:?}: the application credential is bound to project {bound}; projects = [{asked}] names others (use a password credential with a role on each project)")]
    AppCredBound {
        /// The target's label.
        target: String,
        /// The credential's project (ID).
        bound: String,
        /// What `projects` asked for.
        asked: String,
    },
    /// The credentials are scoped to a project the allow-list does not name.
    #[error(
        "target {target:?}: project {project} is not in safety.projects ({allowed}); refusing to sweep it"
    )]
    NotAllowed {
        /// The target's label.
        target: String,
        /// The project the token is scoped to.
        project: String,
        /// The allow-list, comma-separated.
        allowed: String,
    },
}

impl ConnectSpec {
    /// Resolves the credentials with the target's region and project overrides.
    pub fn cloud_config(&self) -> Result<CloudConfig, ConnectError> {
        // `envvars` is resolved by name too: the OS_* variables alone, even when OS_CLOUD is set.
        let mut cloud = CloudConfig::resolve(Some(self.cloud.as_str())).map_err(|source| {
            ConnectError::Resolve {
                target: self.target.clone(),
                cloud: self.cloud.clone(),
                source: Box::new(source),
            }
        })?;
        cloud.set_region(self.region.clone());
        if let Some(project) = &self.project {
            // Keystone project IDs are 32 hex digits; anything else is a name.
            let is_id = project.len() == 32 && project.chars().all(|c| c.is_ascii_hexdigit());
            let (id, name) = if is_id {
                (Some(project.clone()), None)
            } else {
                (None, Some(project.clone()))
            };
            cloud
                .set_project(id, name)
                .map_err(|source| ConnectError::Project {
                    target: self.target.clone(),
                    source: Box::new(source),
                })?;
        }
        Ok(cloud)
    }

    /// Authenticates, without checking the region or the allow-list: for discovery,
    /// which lists nothing in the project.
    pub(crate) async fn connect_without_checks(&self) -> Result<Session, ConnectError> {
        let cloud = self.cloud_config()?;
        Session::connect(&cloud, self.session.clone())
            .await
            .map_err(|source| ConnectError::Auth {
                target: self.target.clone(),
                cloud: self.cloud.clone(),
                source: Box::new(source),
            })
    }

    /// Authenticates and checks the region (in the catalog) and the projects allow-list.
    pub async fn connect(&self) -> Result<Session, ConnectError> {
        let cloud = self.cloud_config()?;
        let project_name = match cloud.auth() {
            AuthMethod::Password { project, .. } => project.name.clone(),
            AuthMethod::ApplicationCredential { .. } => None,
        }
        .or_else(|| self.project_name.clone());
        let session = Session::connect(&cloud, self.session.clone())
            .await
            .map_err(|source| ConnectError::Auth {
                target: self.target.clone(),
                cloud: self.cloud.clone(),
                source: Box::new(source),
            })?;
        if let Some(region) = &self.region {
            let offered = session.catalog_regions().await;
            if !offered.contains(region) {
                return Err(ConnectError::NoRegion {
                    target: self.target.clone(),
                    region: region.clone(),
                    offered: offered.into_iter().collect::<Vec<_>>().join(", "),
                });
            }
        }
        let allowed = &self.allowed_projects;
        if !allowed.is_empty()
            && !allowed
                .iter()
                .any(|p| p == session.project_id() || Some(p) == project_name.as_ref())
        {
            return Err(ConnectError::NotAllowed {
                target: self.target.clone(),
                project: session.project_id().to_owned(),
                allowed: allowed.join(", "),
            });
        }
        Ok(session)
    }
}

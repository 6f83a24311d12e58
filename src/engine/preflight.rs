//! Preflight: what stacksweep can do in a project, said before the first sweep. For every
//! kind it sweeps: is its service in the catalog, does the service offer the API
//! (micro)version the janitor sends (version discovery), and does a one-item listing work
//! with these credentials. Warns when the token is admin (admin tokens list other
//! projects' network resources) and when TLS verification is off.
//!
//! A kind whose service is absent is fine (nothing of it can leak there); a kind the
//! selector needs whose service is present but unusable is a configuration that cannot
//! work ([`Preflight::is_ok`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;
use url::Url;

use crate::openstack::{microversion_headers, ApiError, Service, Session};
use crate::resources::{self, Kind};

/// What became of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Listed fine: stacksweep can sweep it.
    Usable,
    /// Its service is not in the catalog, or the service does not offer its API (404:
    /// a Neutron extension that is not loaded).
    Absent,
    /// Its service is there but the version or the listing fails.
    Unusable,
}

impl Status {
    /// `usable`, `absent`, `unusable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Usable => "usable",
            Status::Absent => "absent",
            Status::Unusable => "unusable",
        }
    }
}

/// What the service's version discovery said about the version stacksweep needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionCheck {
    /// The microversion stacksweep sends (`2.79`); `None` for services without them.
    pub needed: Option<String>,
    /// The highest microversion offered (`2.96`), when discovery said.
    pub offered: Option<String>,
    /// `Some(false)` when the offered range excludes the needed one; `None` when not
    /// checked or discovery failed (the listing then decides).
    pub ok: Option<bool>,
    /// Why discovery could not tell, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The check of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindCheck {
    /// The kind.
    pub kind: Kind,
    /// Its service (`compute`, ...).
    pub service: &'static str,
    /// Whether the selector would sweep it (only those can make the preflight fail).
    pub selected: bool,
    /// Whether the service is in the catalog.
    pub in_catalog: bool,
    /// The version check (for services with microversions).
    pub version: VersionCheck,
    /// `None` when listing was not tried (absent service); else whether it worked.
    pub listing_ok: Option<bool>,
    /// The verdict.
    pub status: Status,
    /// Why it is not usable, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Everything preflight found for one cloud and project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preflight {
    /// The cloud's configured name.
    pub cloud: String,
    /// The project the token is scoped to.
    pub project_id: String,
    /// Roles on the token.
    pub roles: Vec<String>,
    /// One check per kind, in [`Kind::ALL`] order.
    pub kinds: Vec<KindCheck>,
    /// Things that work but deserve attention (admin token, TLS verification off).
    pub warnings: Vec<String>,
}

impl Preflight {
    /// Nothing the selector needs is unusable.
    pub fn is_ok(&self) -> bool {
        self.problems().is_empty()
    }

    /// Kinds the selector needs that cannot be swept, as one line each; and, when the
    /// catalog offers none of the selected kinds at all, that (a sweep would do nothing).
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .kinds
            .iter()
            .filter(|k| k.selected && k.status == Status::Unusable)
            .map(|k| {
                format!(
                    "{}: {}",
                    k.kind,
                    k.detail.as_deref().unwrap_or("not usable")
                )
            })
            .collect();
        let mut selected = self.kinds.iter().filter(|k| k.selected).peekable();
        if selected.peek().is_some() && selected.all(|k| k.status == Status::Absent) {
            problems.push(
                "none of the selected kinds' services is in the catalog (check region and interface)"
                    .to_owned(),
            );
        }
        problems
    }

    /// A table, one row per kind, then warnings and the verdict.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "cloud {}, project {}, roles: {}",
            self.cloud,
            self.project_id,
            self.roles.join(", ")
        );
        let _ = writeln!(
            out,
            "{:<15} {:<14} {:<8} {:<20} {:<8} {:<9} DETAIL",
            "KIND", "SERVICE", "CATALOG", "VERSION", "LIST", "STATUS"
        );
        for k in &self.kinds {
            let version = match (&k.version.needed, &k.version.offered) {
                (Some(n), Some(o)) => format!("{o} (needs {n})"),
                (Some(n), None) => format!("? (needs {n})"),
                _ => "-".to_owned(),
            };
            let listing = match k.listing_ok {
                Some(true) => "ok",
                Some(false) => "FAILED",
                None => "-",
            };
            let status = match (k.status, k.selected) {
                (s, true) => s.as_str().to_owned(),
                (s, false) => format!("{} (not selected)", s.as_str()),
            };
            let detail = k.detail.as_deref().or(k.version.note.as_deref());
            let line = format!(
                "{:<15} {:<14} {:<8} {:<20} {:<8} {:<9} {}",
                k.kind.as_str(),
                k.service,
                if k.in_catalog { "yes" } else { "no" },
                version,
                listing,
                status,
                detail.unwrap_or("")
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        let problems = self.problems();
        if problems.is_empty() {
            let _ = writeln!(out, "preflight: ok");
        } else {
            for p in &problems {
                let _ = writeln!(out, "problem: {p}");
            }
            let _ = writeln!(out, "preflight: FAILED");
        }
        out
    }
}

/// Runs the checks. `selected` says which kinds the selector sweeps; `insecure` is the
/// cloud's TLS setting (the session does not expose it).
pub async fn run(session: &Session, insecure: bool, selected: impl Fn(Kind) -> bool) -> Preflight {
    let mut versions: BTreeMap<Service, VersionCheck> = BTreeMap::new();
    for service in [
        Service::Compute,
        Service::BlockStorage,
        Service::SharedFileSystem,
    ] {
        if session.has_service(service) {
            versions.insert(service, discover(session, service).await);
        }
    }
    let probes = futures::future::join_all(Kind::ALL.iter().map(|kind| async move {
        if session.has_service(kind.service()) {
            Some(resources::probe(session, *kind).await)
        } else {
            None
        }
    }))
    .await;
    let kinds = Kind::ALL
        .iter()
        .zip(probes)
        .map(|(kind, probe)| {
            let service = kind.service();
            let version = versions.get(&service).cloned().unwrap_or(VersionCheck {
                needed: None,
                offered: None,
                ok: None,
                note: None,
            });
            let in_catalog = session.has_service(service);
            let (status, detail) = match (&probe, version.ok) {
                (None, _) => (Status::Absent, None),
                (Some(_), Some(false)) => (
                    Status::Unusable,
                    Some(format!(
                        "{service} offers microversions up to {}, stacksweep sends {}",
                        version.offered.as_deref().unwrap_or("?"),
                        version.needed.as_deref().unwrap_or("?")
                    )),
                ),
                // The service is there but not this API (a Neutron extension that is
                // not loaded): nothing of it can leak, as the sweep's inventory says.
                (Some(Err(e)), _) if e.api().and_then(ApiError::status) == Some(404) => (
                    Status::Absent,
                    Some(format!("not offered by this cloud: {e}")),
                ),
                (Some(Err(e)), _) => (Status::Unusable, Some(format!("listing failed: {e}"))),
                (Some(Ok(())), _) => (Status::Usable, None),
            };
            KindCheck {
                kind: *kind,
                service: service.as_str(),
                selected: selected(*kind),
                in_catalog,
                version,
                listing_ok: probe.as_ref().map(Result::is_ok),
                status,
                detail,
            }
        })
        .collect();
    let mut warnings = Vec::new();
    if session
        .roles()
        .iter()
        .any(|r| r.eq_ignore_ascii_case("admin"))
    {
        warnings.push(
            "the token has the admin role: admin tokens list other projects' network resources; run stacksweep as a project member"
                .to_owned(),
        );
    }
    if insecure {
        warnings.push(
            "TLS certificate verification is off for this cloud (verify: false / insecure)"
                .to_owned(),
        );
    }
    Preflight {
        cloud: session.cloud_name().to_owned(),
        project_id: session.project_id().to_owned(),
        roles: session.roles().to_vec(),
        kinds,
        warnings,
    }
}

/// The microversion the request path sends to `service` (`compute 2.79` → `2.79`;
/// Manila's own header: `2.17`).
fn needed_version(service: Service) -> Option<String> {
    microversion_headers(service)
        .iter()
        .find(|(k, _)| k.ends_with("api-version"))
        .and_then(|(_, v)| v.split_whitespace().last())
        .map(str::to_owned)
}

/// `2.79` → `(2, 79)`.
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Path from the API root to its version document: the root of the versioned URL
/// (`/volume/v3/{project}` → `/volume/v3/`), as a relative path the client resolves.
fn discovery_path(root: &Url) -> String {
    let segments: Vec<&str> = root
        .path_segments()
        .map(|s| s.filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    let after = segments
        .iter()
        .rposition(|s| {
            s.strip_prefix('v').is_some_and(|r| {
                r.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            })
        })
        .map_or(0, |i| segments.len() - 1 - i);
    format!("{}/", "/..".repeat(after))
}

/// The highest and lowest microversions in a version document (`{"version": {...}}`, or
/// `{"versions": [...]}` where the `CURRENT` one counts).
pub fn offered_range(body: &Value) -> Option<(String, String)> {
    let doc = match body.get("version") {
        Some(v) => v,
        None => body
            .get("versions")?
            .as_array()?
            .iter()
            .find(|v| v["status"] == "CURRENT")?,
    };
    let max = doc.get("version")?.as_str()?.to_owned();
    let min = doc
        .get("min_version")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((max, min))
}

/// Asks `service` which microversions it offers and compares with what we send.
async fn discover(session: &Session, service: Service) -> VersionCheck {
    let needed = needed_version(service);
    let mut check = VersionCheck {
        needed: needed.clone(),
        offered: None,
        ok: None,
        note: None,
    };
    let root = match session.endpoint(service).await {
        Ok(root) => root,
        Err(e) => {
            check.note = Some(format!("version discovery: {e}"));
            return check;
        }
    };
    let range = match session.get(service, &discovery_path(&root)).await {
        Ok(body) => offered_range(&body),
        Err(e) => {
            check.note = Some(format!("version discovery: {e}"));
            return check;
        }
    };
    let Some((max, min)) = range else {
        check.note = Some("version discovery: no version document".to_owned());
        return check;
    };
    let want = needed.as_deref().and_then(parse_version);
    check.ok = match (want, parse_version(&max)) {
        (Some(w), Some(hi)) => {
            let lo = parse_version(&min).unwrap_or((0, 0));
            Some(lo <= w && w <= hi)
        }
        // No microversions offered at all: the base version only.
        (Some(_), None) if max.is_empty() => Some(false),
        _ => None,
    };
    check.offered = Some(if max.is_empty() { "none".into() } else { max });
    check
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The discovery path climbs from the API root to the versioned root.
    #[test]
    fn discovery_paths() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(discovery_path(&u("http://h/compute/v2.1")), "/");
        assert_eq!(discovery_path(&u("http://h/volume/v3/abc")), "/../");
        assert_eq!(discovery_path(&u("http://h:8776/v3")), "/");
        // The client resolves the dots.
        assert_eq!(
            Url::parse("http://h/volume/v3/abc/../").unwrap().as_str(),
            "http://h/volume/v3/"
        );
    }

    /// Both version document shapes give the offered range; what we send is parsed.
    #[test]
    fn version_documents() {
        let one = json!({"version": {"id": "v2.1", "version": "2.96", "min_version": "2.1", "status": "CURRENT"}});
        assert_eq!(offered_range(&one), Some(("2.96".into(), "2.1".into())));
        let many = json!({"versions": [{"id": "v2.0", "status": "SUPPORTED", "version": ""},
            {"id": "v3.0", "status": "CURRENT", "version": "3.70", "min_version": "3.0"}]});
        assert_eq!(offered_range(&many), Some(("3.70".into(), "3.0".into())));
        assert_eq!(offered_range(&json!({"x": 1})), None);
        assert_eq!(needed_version(Service::Compute).as_deref(), Some("2.79"));
        assert_eq!(
            needed_version(Service::SharedFileSystem).as_deref(),
            Some("2.17")
        );
        assert_eq!(needed_version(Service::Network), None);
        assert_eq!(parse_version("2.79"), Some((2, 79)));
        assert!(parse_version("2.79") >= parse_version("2.26"));
    }

    /// Only a selected, unusable kind makes the preflight fail; absent kinds never do.
    #[test]
    fn verdict() {
        let check = |kind, selected, status| KindCheck {
            kind,
            service: "x",
            selected,
            in_catalog: status != Status::Absent,
            version: VersionCheck {
                needed: None,
                offered: None,
                ok: None,
                note: None,
            },
            listing_ok: None,
            status,
            detail: Some("listing failed: HTTP 403".into()),
        };
        let mut p = Preflight {
            cloud: "c".into(),
            project_id: "p".into(),
            roles: vec!["member".into()],
            kinds: vec![
                check(Kind::Stack, true, Status::Absent),
                check(Kind::Image, false, Status::Unusable),
                check(Kind::Port, true, Status::Usable),
            ],
            warnings: vec![],
        };
        assert!(p.is_ok());
        p.kinds.push(check(Kind::Volume, true, Status::Unusable));
        assert_eq!(p.problems(), vec!["volume: listing failed: HTTP 403"]);
        assert!(p.render_text().contains("problem: volume: listing failed"));
        let absent = |kind| check(kind, true, Status::Absent);
        p.kinds = vec![absent(Kind::Stack), absent(Kind::Container)];
        assert_eq!(p.problems().len(), 1, "{:?}", p.problems());
    }
}

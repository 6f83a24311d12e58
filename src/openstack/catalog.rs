//! The Keystone service catalog: picking a service's endpoint (type aliases, interface,
//! region) and turning it into the versioned API root the engine's paths are relative to.

use serde::Deserialize;
use url::Url;

use super::Service;

/// Catalog types that stand for a service, in the order clients try them.
pub fn service_types(service: Service) -> &'static [&'static str] {
    match service {
        Service::Identity => &["identity"],
        Service::Compute => &["compute"],
        Service::Network => &["network"],
        Service::BlockStorage => &["block-storage", "volumev3", "volume", "block-store"],
        Service::LoadBalancer => &["load-balancer"],
        Service::Image => &["image"],
        Service::Orchestration => &["orchestration"],
        Service::ObjectStore => &["object-store"],
        Service::KeyManager => &["key-manager"],
        Service::Dns => &["dns"],
        Service::SharedFileSystem => &["shared-file-system", "sharev2"],
    }
}

/// Every service, for building per-service state.
pub const ALL_SERVICES: [Service; 11] = [
    Service::Identity,
    Service::Compute,
    Service::Network,
    Service::BlockStorage,
    Service::LoadBalancer,
    Service::Image,
    Service::Orchestration,
    Service::ObjectStore,
    Service::KeyManager,
    Service::Dns,
    Service::SharedFileSystem,
];

/// The catalog as Keystone sends it in the token body (unknown fields ignored).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Catalog(Vec<CatalogEntry>);

/// One service in the catalog.
#[derive(Debug, Clone, Deserialize)]
struct CatalogEntry {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    endpoints: Vec<Endpoint>,
}

/// One endpoint of a service.
#[derive(Debug, Clone, Deserialize)]
struct Endpoint {
    #[serde(default)]
    interface: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    region_id: Option<String>,
    #[serde(default)]
    url: String,
}

impl Catalog {
    /// The catalog URL of `service`: the first alias that has an endpoint with this
    /// interface (and region, when one is asked for).
    pub fn endpoint(
        &self,
        service: Service,
        interface: &str,
        region: Option<&str>,
    ) -> Option<&str> {
        service_types(service).iter().find_map(|alias| {
            self.0
                .iter()
                .filter(|entry| entry.kind == *alias)
                .find_map(|entry| {
                    entry
                        .endpoints
                        .iter()
                        .find(|ep| {
                            ep.interface.trim_end_matches("URL") == interface
                                && region.is_none_or(|r| {
                                    ep.region_id.as_deref() == Some(r)
                                        || ep.region.as_deref() == Some(r)
                                })
                                && !ep.url.is_empty()
                        })
                        .map(|ep| ep.url.as_str())
                })
        })
    }
}

impl Catalog {
    /// Only what a session on `interface` uses: the services we talk to, and their
    /// endpoints on that interface (a cached token keeps this, not the whole catalog).
    pub fn trimmed(self, interface: &str) -> Catalog {
        let ours: Vec<&str> = ALL_SERVICES
            .iter()
            .flat_map(|s| service_types(*s).iter().copied())
            .collect();
        let mut entries: Vec<CatalogEntry> = self
            .0
            .into_iter()
            .filter(|entry| ours.contains(&entry.kind.as_str()))
            .map(|mut entry| {
                entry
                    .endpoints
                    .retain(|ep| ep.interface.trim_end_matches("URL") == interface);
                entry.endpoints.shrink_to_fit();
                entry
            })
            .collect();
        entries.shrink_to_fit();
        Catalog(entries)
    }

    /// The regions with an endpoint on `interface` of any service we sweep (Keystone
    /// aside: a region that offers only identity has nothing to sweep).
    pub fn regions(&self, interface: &str) -> std::collections::BTreeSet<String> {
        let swept: Vec<&str> = ALL_SERVICES
            .iter()
            .filter(|s| **s != Service::Identity)
            .flat_map(|s| service_types(*s).iter().copied())
            .collect();
        self.0
            .iter()
            .filter(|entry| swept.contains(&entry.kind.as_str()))
            .flat_map(|entry| entry.endpoints.iter())
            .filter(|ep| ep.interface.trim_end_matches("URL") == interface && !ep.url.is_empty())
            .filter_map(|ep| ep.region_id.clone().or_else(|| ep.region.clone()))
            .collect()
    }
}

/// Whether a path segment is an API version (`v2.0`, `v3`, `v2.1`).
fn is_version_segment(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.splitn(2, '.');
    let major_ok = parts
        .next()
        .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()));
    major_ok
        && parts
            .next()
            .is_none_or(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether any segment of the URL's path is a version.
pub fn is_versioned(url: &Url) -> bool {
    url.path_segments()
        .is_some_and(|mut s| s.any(is_version_segment))
}

/// The version a service's unversioned catalog URL gets, as the usual clients append it.
fn default_version(service: Service) -> Option<&'static str> {
    match service {
        Service::Identity => Some("v3"),
        Service::Network => Some("v2.0"),
        Service::Image | Service::LoadBalancer | Service::Dns | Service::SharedFileSystem => {
            Some("v2")
        }
        Service::Compute => Some("v2.1"),
        Service::BlockStorage => Some("v3"),
        Service::KeyManager => Some("v1"),
        // Heat and Swift carry the project in their catalog URL, versioned already.
        Service::Orchestration | Service::ObjectStore => None,
    }
}

/// The versioned API root for a catalog URL (`http://n:9696` → `http://n:9696/v2.0`),
/// without a trailing slash.
pub fn api_root(service: Service, catalog_url: &str) -> Result<Url, url::ParseError> {
    let mut url = Url::parse(catalog_url)?;
    if !is_versioned(&url) {
        if let Some(version) = default_version(service) {
            let path = format!("{}/{version}", url.path().trim_end_matches('/'));
            url.set_path(&path);
        }
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Catalog {
        serde_json::from_value(json!([
            {"type": "volumev3", "name": "cinderv3", "endpoints": [
                {"interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": "http://c1:8776/v3/p1"},
                {"interface": "public", "region_id": "RegionTwo", "region": "RegionTwo", "url": "http://c2:8776/v3/p1"}]},
            {"type": "network", "endpoints": [
                {"interface": "internal", "region_id": "RegionOne", "url": "http://n-int:9696"},
                {"interface": "public", "region_id": "RegionOne", "url": "http://n-pub:9696/"}]},
            {"type": "block-storage", "endpoints": []},
            {"type": "image", "endpoints": [{"interface": "publicURL", "region": "RegionOne", "url": "http://g/image"}], "extra": 1}
        ]))
        .unwrap()
    }

    /// Aliases are tried in order (an empty `block-storage` entry falls back to `volumev3`).
    #[test]
    fn alias_fallback() {
        let c = catalog();
        assert_eq!(
            c.endpoint(Service::BlockStorage, "public", None),
            Some("http://c1:8776/v3/p1")
        );
        assert_eq!(c.endpoint(Service::Compute, "public", None), None);
    }

    /// A trimmed catalog answers every lookup on its interface as the whole one did, and
    /// keeps nothing else.
    #[test]
    fn trimmed_keeps_what_the_interface_uses() {
        let mut whole = catalog();
        whole.0.push(
            serde_json::from_value(json!({"type": "placement", "endpoints": [
            {"interface": "public", "region_id": "RegionOne", "url": "http://p"}]}))
            .unwrap(),
        );
        let trimmed = whole.clone().trimmed("public");
        for service in ALL_SERVICES {
            for region in [None, Some("RegionOne"), Some("RegionTwo")] {
                assert_eq!(
                    trimmed.endpoint(service, "public", region),
                    whole.endpoint(service, "public", region)
                );
            }
        }
        assert_eq!(trimmed.regions("public"), whole.regions("public"));
        assert_eq!(trimmed.endpoint(Service::Network, "internal", None), None);
        assert!(trimmed.0.iter().all(|e| e.kind != "placement"));
    }

    /// Interface and region both narrow the pick.
    #[test]
    fn interface_and_region() {
        let c = catalog();
        assert_eq!(
            c.endpoint(Service::BlockStorage, "public", Some("RegionTwo")),
            Some("http://c2:8776/v3/p1")
        );
        assert_eq!(
            c.endpoint(Service::BlockStorage, "public", Some("RegionThree")),
            None
        );
        assert_eq!(
            c.endpoint(Service::Network, "internal", None),
            Some("http://n-int:9696")
        );
        assert_eq!(
            c.endpoint(Service::Network, "public", Some("RegionOne")),
            Some("http://n-pub:9696/")
        );
        assert_eq!(
            c.endpoint(Service::Image, "public", Some("RegionOne")),
            Some("http://g/image")
        );
    }

    /// Unversioned roots get the version clients append; versioned ones are kept.
    #[test]
    fn versioned_roots() {
        let root = |s, u| api_root(s, u).unwrap().to_string();
        assert_eq!(
            root(Service::Network, "http://n:9696/"),
            "http://n:9696/v2.0"
        );
        assert_eq!(
            root(Service::Network, "http://n/networking/v2.0/"),
            "http://n/networking/v2.0"
        );
        assert_eq!(root(Service::Image, "http://g/image"), "http://g/image/v2");
        assert_eq!(
            root(Service::LoadBalancer, "http://o:9876"),
            "http://o:9876/v2"
        );
        assert_eq!(
            root(Service::Compute, "http://c:8774/v2.1"),
            "http://c:8774/v2.1"
        );
        assert_eq!(
            root(Service::BlockStorage, "http://c:8776/v3/abc"),
            "http://c:8776/v3/abc"
        );
        assert_eq!(
            root(Service::ObjectStore, "http://s:8080/v1/AUTH_p"),
            "http://s:8080/v1/AUTH_p"
        );
        assert_eq!(root(Service::Identity, "http://k:5000"), "http://k:5000/v3");
        assert!(!is_version_segment("v"));
        assert!(!is_version_segment("volume"));
        assert!(is_version_segment("v2.0"));
    }
}

//! Listing every page of a collection: `<collection>_links` rel=next (Neutron, Nova,
//! Cinder, Octavia), top-level `links` (Heat; Designate's is an object with `next`),
//! Glance's and Barbican's `next`, Swift's top-level array with `marker=<last name>`,
//! and plain marker/limit (or offset for Nova server groups, Barbican, whose items have
//! no id, and Manila, which takes no marker) when a full page comes back without a
//! link. Guards: a page limit, a next link or
//! marker seen twice, an item with nothing to page on.
//!
//! Next links are rebased onto our own endpoint: a service behind a proxy often links to
//! its internal host, and the token must never go to a host the catalog did not name.

use std::collections::HashSet;
use std::future::Future;

use serde_json::Value;
use url::Url;

use super::error::ApiError;
use super::Service;

/// How to ask for the next page when the service gave no link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// `marker=<id or name of the last item>`.
    Marker,
    /// `offset=<items so far>` (Nova server groups, Barbican and Manila take no marker).
    Offset,
    /// The collection does not paginate (Keystone, Heat's stack resources): no `limit`
    /// is sent and one page is all.
    None,
}

fn fallback(service: Service, collection: &str) -> Fallback {
    match (service, collection) {
        (Service::Identity, _) | (Service::Orchestration, "resources") => Fallback::None,
        (Service::Compute, "server_groups")
        | (Service::KeyManager, _)
        | (Service::SharedFileSystem, _) => Fallback::Offset,
        _ => Fallback::Marker,
    }
}

/// The value of query parameter `key` in a path's query.
fn query_param(path: &str, key: &str) -> Option<String> {
    let (_, query) = path.split_once('?')?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `path` with `key=value` set (any previous `key` removed); other parameters untouched.
fn with_param(path: &str, key: &str, value: &str) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(key))
        .map(str::to_owned)
        .collect();
    let encoded: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(key, value)
        .finish();
    parts.push(encoded);
    format!("{base}?{}", parts.join("&"))
}

/// The `rel=next` href of a links array.
fn next_in_links(links: Option<&Value>) -> Option<&str> {
    links?
        .as_array()?
        .iter()
        .find(|l| l.get("rel").and_then(Value::as_str) == Some("next"))
        .and_then(|l| l.get("href"))
        .and_then(Value::as_str)
}

/// The next-page link of a body, in whichever shape the service uses.
fn next_link<'a>(body: &'a Value, collection: &str) -> Option<&'a str> {
    if collection.is_empty() {
        return None;
    }
    next_in_links(body.get(format!("{collection}_links")))
        .or_else(|| next_in_links(body.get("links")))
        .or_else(|| body.get("links")?.get("next")?.as_str())
        .or_else(|| body.get("next").and_then(Value::as_str))
        .filter(|href| !href.is_empty())
}

/// A link as a path relative to `root` (with its query). Absolute links keep only their
/// path; a path that repeats the tail of the root (Glance's `/v2/images?...` under
/// `http://h/image/v2`) is matched on that tail.
fn rebase(href: &str, root: &Url) -> Option<String> {
    let link = root.join(href).ok()?;
    let link_path = link.path();
    let root_path = root.path().trim_end_matches('/');
    let segments: Vec<&str> = root_path.split('/').filter(|s| !s.is_empty()).collect();
    let tail = (0..=segments.len()).find_map(|skip| {
        let prefix = if skip == segments.len() {
            String::new()
        } else {
            format!("/{}", segments[skip..].join("/"))
        };
        let rest = link_path.strip_prefix(prefix.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then(|| rest.to_owned())
    })?;
    Some(match link.query() {
        Some(q) => format!("{tail}?{q}"),
        None => tail,
    })
}

/// The items of one page: `body[collection]`, or the body itself for Swift.
fn items_of(body: Value, collection: &str) -> Result<Vec<Value>, String> {
    let found = if collection.is_empty() {
        body
    } else {
        match body {
            Value::Object(mut map) => map
                .remove(collection)
                .ok_or_else(|| format!("no \"{collection}\" in the body"))?,
            Value::Null => return Err("empty body".into()),
            _ => return Err(format!("expected an object with \"{collection}\"")),
        }
    };
    match found {
        Value::Array(items) => Ok(items),
        // Swift answers an empty account or container with 204 and no body.
        Value::Null if collection.is_empty() => Ok(Vec::new()),
        _ => Err(format!("\"{collection}\" is not a list")),
    }
}

/// What an item pages on: its `id`, else its `name`; a wrapped item
/// (`{"keypair": {"name": ...}}`) is looked into.
fn marker_of(item: &Value) -> Option<String> {
    let direct = |v: &Value| {
        ["id", "name"].iter().find_map(|k| match v.get(*k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    direct(item).or_else(|| {
        let map = item.as_object()?;
        if map.len() == 1 {
            map.values().next().and_then(direct)
        } else {
            None
        }
    })
}

/// One page as [`list`] reads it; see [`read_page`].
#[derive(Debug, Clone, PartialEq)]
pub struct PageParts {
    /// The page's items.
    pub items: Vec<Value>,
    /// What each item would be paged on (`None`: nothing to page on).
    pub markers: Vec<Option<String>>,
    /// The next link, if any: `Some(path)` rebased on the endpoint, `None` when it
    /// leaves the endpoint (an error for [`list`]).
    pub next: Option<Option<String>>,
}

/// The pure steps [`list`] takes on one page body, exposed so the fuzz targets exercise
/// the real parsing: the items of `collection` (`""`: Swift's top-level array), their
/// markers and the next link rebased on `root`.
pub fn read_page(body: Value, collection: &str, root: &Url) -> Result<PageParts, String> {
    let next = next_link(&body, collection).map(|href| rebase(href, root));
    let items = items_of(body, collection)?;
    let markers = items.iter().map(marker_of).collect();
    Ok(PageParts {
        items,
        markers,
        next,
    })
}

/// Where pages come from: a session, as far as paging needs one.
pub(crate) trait PageSource {
    /// `limit` to ask for when the path has none.
    fn page_size(&self) -> usize;
    /// More pages than this is an error (a service looping on its links).
    fn max_pages(&self) -> usize;
    /// The service's versioned API root (next links must stay under it).
    fn endpoint(&self, service: Service) -> impl Future<Output = Result<Url, ApiError>> + Send;
    /// One page's JSON.
    fn get(
        &self,
        service: Service,
        path: &str,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send;
}

/// Lists every page of `path`.
pub(crate) async fn list<T>(
    session: &impl PageSource,
    service: Service,
    path: &str,
    collection: &str,
    mut convert: impl FnMut(Value) -> T,
) -> Result<Vec<T>, ApiError> {
    let guard = |message: String| ApiError::Pagination {
        service,
        path: path.to_owned(),
        message,
    };
    let decode = |page: &str, message: String| ApiError::Decode {
        service,
        method: "GET",
        path: page.to_owned(),
        message,
    };
    let mode = fallback(service, collection);
    let (mut page, limit) = match query_param(path, "limit").and_then(|l| l.parse::<usize>().ok()) {
        Some(limit) => (path.to_owned(), Some(limit)),
        None if mode == Fallback::None => (path.to_owned(), None),
        None => (
            with_param(path, "limit", &session.page_size().to_string()),
            Some(session.page_size()),
        ),
    };
    let root = session.endpoint(service).await?;
    let mut seen_links: HashSet<String> = HashSet::new();
    let mut seen_markers: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    let mut pages = 0usize;
    loop {
        pages += 1;
        if pages > session.max_pages() {
            return Err(guard(format!(
                "more than {} pages (max_pages)",
                session.max_pages()
            )));
        }
        let body = session.get(service, &page).await?;
        let link = next_link(&body, collection).map(str::to_owned);
        let items = items_of(body, collection).map_err(|m| decode(&page, m))?;
        let count = items.len();
        // A service that ignores the limit cannot be trusted to page (or to have sent
        // the whole list); a page larger than asked for is garbage, not data.
        if let Some(limit) = limit.filter(|&l| count > l) {
            return Err(guard(format!(
                "a page has {count} items, more than the limit of {limit} asked for"
            )));
        }
        let last_marker = items.last().and_then(marker_of);
        let last_has_no_marker = count > 0 && last_marker.is_none();
        // Each page is converted as it arrives: only one page's JSON tree is held.
        out.extend(items.into_iter().map(&mut convert));

        let next = if let Some(href) = link {
            let rel = rebase(&href, &root).ok_or_else(|| {
                guard(format!(
                    "next link {href} is outside the {service} endpoint"
                ))
            })?;
            if !seen_links.insert(rel.clone()) {
                return Err(guard(format!("next link {href} came back twice")));
            }
            if let Some(marker) = query_param(&rel, "marker") {
                if !seen_markers.insert(marker.clone()) {
                    return Err(guard(format!("marker {marker} came back twice")));
                }
            }
            rel
        } else if count > 0 && Some(count) == limit {
            match mode {
                Fallback::None => break,
                Fallback::Offset => {
                    let offset = query_param(&page, "offset")
                        .and_then(|o| o.parse::<usize>().ok())
                        .unwrap_or(0)
                        + count;
                    with_param(&page, "offset", &offset.to_string())
                }
                Fallback::Marker => {
                    if last_has_no_marker {
                        return Err(guard("an item has no id or name to page on".into()));
                    }
                    let Some(marker) = last_marker else { break };
                    if !seen_markers.insert(marker.clone()) {
                        return Err(guard(format!("marker {marker} came back twice")));
                    }
                    with_param(&page, "marker", &marker)
                }
            }
        } else {
            break;
        };
        page = next;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Query parameters are read and replaced without touching the others.
    #[test]
    fn query_editing() {
        assert_eq!(
            with_param("/ports?tags=ci", "limit", "50"),
            "/ports?tags=ci&limit=50"
        );
        assert_eq!(
            with_param("/ports?limit=5&marker=a", "marker", "b c"),
            "/ports?limit=5&marker=b+c"
        );
        assert_eq!(
            with_param("?format=json", "limit", "2"),
            "?format=json&limit=2"
        );
        assert_eq!(with_param("", "limit", "2"), "?limit=2");
        assert_eq!(
            query_param("/x?limit=5&marker=a%20b", "marker").as_deref(),
            Some("a b")
        );
        assert_eq!(query_param("/x", "marker"), None);
    }

    /// Next links in each service's shape are found.
    #[test]
    fn next_links() {
        let neutron = json!({"ports": [], "ports_links": [{"rel": "previous", "href": "p"}, {"rel": "next", "href": "n"}]});
        assert_eq!(next_link(&neutron, "ports"), Some("n"));
        assert_eq!(
            next_link(
                &json!({"images": [], "next": "/v2/images?marker=x"}),
                "images"
            ),
            Some("/v2/images?marker=x")
        );
        assert_eq!(
            next_link(
                &json!({"stacks": [], "links": [{"rel": "next", "href": "h"}]}),
                "stacks"
            ),
            Some("h")
        );
        assert_eq!(next_link(&json!({"servers": []}), "servers"), None);
        // Designate: `links` is an object, `next` only while more remain.
        let designate =
            json!({"zones": [], "links": {"self": "s", "next": "http://d/v2/zones?marker=z"}});
        assert_eq!(
            next_link(&designate, "zones"),
            Some("http://d/v2/zones?marker=z")
        );
        assert_eq!(
            next_link(&json!({"zones": [], "links": {"self": "s"}}), "zones"),
            None
        );
        // Barbican: a top-level `next` URL.
        let barbican =
            json!({"secrets": [], "total": 3, "next": "http://k/v1/secrets?limit=1&offset=1"});
        assert_eq!(
            next_link(&barbican, "secrets"),
            Some("http://k/v1/secrets?limit=1&offset=1")
        );
    }

    /// Links are rebased onto our endpoint: foreign hosts, proxies' path prefixes, Glance.
    #[test]
    fn rebasing() {
        let neutron = Url::parse("https://cloud.example/network/v2.0").unwrap();
        assert_eq!(
            rebase("http://10.0.0.5:9696/v2.0/ports?limit=2&marker=m", &neutron).as_deref(),
            Some("/ports?limit=2&marker=m")
        );
        assert_eq!(
            rebase(
                "https://cloud.example/network/v2.0/ports?marker=m",
                &neutron
            )
            .as_deref(),
            Some("/ports?marker=m")
        );
        let glance = Url::parse("http://h/image/v2").unwrap();
        assert_eq!(
            rebase("/v2/images?marker=x", &glance).as_deref(),
            Some("/images?marker=x")
        );
        let octavia = Url::parse("http://o:9876/v2").unwrap();
        assert_eq!(
            rebase("http://o:9876/v2/lbaas/loadbalancers?marker=q", &octavia).as_deref(),
            Some("/lbaas/loadbalancers?marker=q")
        );
        // A link outside the root matches no tail at all only when nothing lines up;
        // the fallback (skip every root segment) keeps the full path.
        assert_eq!(
            rebase("http://evil/steal", &octavia).as_deref(),
            Some("/steal")
        );
    }

    /// Items come from the collection key or the top-level array; markers from id or name.
    #[test]
    fn items_and_markers() {
        assert_eq!(
            items_of(json!({"ports": [1, 2]}), "ports").unwrap().len(),
            2
        );
        assert!(items_of(json!({"port": []}), "ports")
            .unwrap_err()
            .contains("no \"ports\""));
        assert!(items_of(json!({"ports": {}}), "ports").is_err());
        assert!(items_of(json!("html?"), "ports").is_err());
        assert_eq!(items_of(json!([{"name": "c"}]), "").unwrap().len(), 1);
        assert!(items_of(Value::Null, "").unwrap().is_empty());
        assert_eq!(
            marker_of(&json!({"id": "a", "name": "b"})).as_deref(),
            Some("a")
        );
        assert_eq!(
            marker_of(&json!({"name": "cont", "count": 1})).as_deref(),
            Some("cont")
        );
        assert_eq!(
            marker_of(&json!({"keypair": {"name": "k"}})).as_deref(),
            Some("k")
        );
        assert_eq!(marker_of(&json!({"x": 1, "y": 2})), None);
    }

    proptest::proptest! {
        /// Any link rebases (or is refused) without panicking, and stays a relative path.
        #[test]
        fn any_link_rebases(href in ".{0,80}") {
            let root = Url::parse("http://h:1/network/v2.0").unwrap();
            if let Some(rel) = rebase(&href, &root) {
                proptest::prop_assert!(rel.is_empty() || rel.starts_with('/') || rel.starts_with('?'), "{}", rel);
            }
        }

        /// Query editing keeps other parameters and sets exactly one value.
        #[test]
        fn with_param_sets_one(path in "[a-z/]{0,10}(\\?[a-z]{1,5}=[a-z0-9]{0,5}(&[a-z]{1,5}=[a-z0-9]{0,5}){0,3})?", value in "[ -~]{0,12}") {
            let edited = with_param(&path, "marker", &value);
            proptest::prop_assert_eq!(query_param(&edited, "marker"), Some(value));
            proptest::prop_assert_eq!(edited.matches("marker=").count(), 1);
        }
    }
}

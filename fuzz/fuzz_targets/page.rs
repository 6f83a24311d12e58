//! One page of a list answer (items, markers, next links of every service's shape,
//! rebased on an endpoint) parses without panicking, and a next link never leaves the
//! endpoint's host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stacksweep::openstack::paginate::read_page;
use url::Url;

const COLLECTIONS: &[&str] = &["ports", "servers", "images", "stacks", "keypairs", ""];
const ROOTS: &[&str] = &[
    "http://127.0.0.1:9696/network",
    "https://cloud.example:8774/compute/v2.1/",
    "http://h/image/v2",
    "http://h/swift/v1/AUTH_p",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let collection = COLLECTIONS[usize::from(pick) % COLLECTIONS.len()];
    let Ok(root) = Url::parse(ROOTS[usize::from(pick / 8) % ROOTS.len()]) else {
        return;
    };
    let Ok(body) = serde_json::from_slice(json) else {
        return;
    };
    if let Ok(page) = read_page(body, collection, &root) {
        assert_eq!(page.items.len(), page.markers.len());
        if let Some(Some(next)) = page.next {
            // Joined to the endpoint as the session joins paths, a rebased link stays on
            // the endpoint's host and port: the token never goes elsewhere.
            let base = root.as_str().trim_end_matches('/');
            let sep = if next.is_empty() || next.starts_with(['/', '?']) {
                ""
            } else {
                "/"
            };
            if let Ok(url) = Url::parse(&format!("{base}{sep}{next}")) {
                assert_eq!(url.host_str(), root.host_str(), "{next}");
                assert_eq!(
                    url.port_or_known_default(),
                    root.port_or_known_default(),
                    "{next}"
                );
            }
        }
    }
});

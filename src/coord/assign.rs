//! Rendezvous (highest-random-weight) hashing: a unit belongs to the member whose hash of
//! (member, unit key) is highest. Every replica computes the same answer from the same
//! member list without talking to the others, and when a member leaves only its own units
//! move (each to its next-highest member).
//!
//! A unit key is `target/project/region`; its owner is chosen by `target/project` alone,
//! so all regions of a project go to one replica, which then asks Keystone for that
//! project's token once, not once per region. Each unit still has its own lock.
//!
//! The hash is xxh3 with a fixed seed, never std's randomly keyed `SipHash`: replicas
//! (and versions) must agree.

use twox_hash::XxHash3_64;

/// The weight of `member` for `key`: the bytes of both, split by a NUL (neither holds
/// one), so `("ab", "c")` and `("a", "bc")` differ.
fn weight(member: &str, key: &str) -> u64 {
    let mut bytes = Vec::with_capacity(member.len() + key.len() + 1);
    bytes.extend_from_slice(member.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(key.as_bytes());
    XxHash3_64::oneshot(&bytes)
}

/// What a unit is placed by: its key without the last `/region` part (a key without a
/// `/` is placed by itself).
fn placement(key: &str) -> &str {
    key.rsplit_once('/')
        .map_or(key, |(project, _region)| project)
}

/// The member that owns `key` among `members` (`None` when there are none). Ties, which
/// a 64-bit hash makes unlikely, go to the greater name, so the answer never depends on
/// the list's order.
pub fn owner<'a, S: AsRef<str>>(key: &str, members: &'a [S]) -> Option<&'a str> {
    let placed_by = placement(key);
    members
        .iter()
        .map(AsRef::as_ref)
        .max_by_key(|m| (weight(m, placed_by), *m))
}

/// Whether `me` owns `key` among `members` (never, if `me` is not one of them).
pub fn owns<S: AsRef<str>>(me: &str, key: &str, members: &[S]) -> bool {
    owner(key, members) == Some(me)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("ci/project-{i:04}/RegionOne"))
            .collect()
    }

    fn counts(keys: &[String], members: &[&str]) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for k in keys {
            *counts
                .entry(owner(k, members).unwrap().to_owned())
                .or_default() += 1;
        }
        counts
    }

    /// The same key and members give the same owner, whatever the members' order; the
    /// hash is fixed (not std's random keys), so replicas and versions agree.
    #[test]
    fn deterministic_and_order_free() {
        let a = ["r0", "r1", "r2"];
        let b = ["r2", "r0", "r1"];
        for k in keys(100) {
            assert_eq!(owner(&k, &a), owner(&k, &b));
        }
        // A change of hash would move every replica's work at once on upgrade: pinned.
        assert_eq!(weight("r0", "ci/p/-"), weight("r0", "ci/p/-"));
        assert_eq!(
            weight("0", "ci/project-0000/RegionOne"),
            XxHash3_64::oneshot(b"0\0ci/project-0000/RegionOne")
        );
        assert_eq!(owner::<&str>("k", &[]), None);
    }

    /// 300 keys over 3 members: each gets between 70 and 130 (the ideal is 100).
    #[test]
    fn balanced_within_tolerance() {
        let counts = counts(&keys(300), &["0", "1", "2"]);
        assert_eq!(counts.len(), 3, "{counts:?}");
        for (m, n) in &counts {
            assert!(
                (70..=130).contains(n),
                "member {m} owns {n} of 300: {counts:?}"
            );
        }
    }

    /// All regions of one project have one owner (its token is asked for once), while
    /// the projects still spread over the members.
    #[test]
    fn a_projects_regions_share_their_owner() {
        let members = ["r0", "r1", "r2"];
        let mut owners_seen = BTreeMap::<&str, usize>::new();
        for p in 0..60 {
            let one = owner(&format!("ci/project-{p}/RegionOne"), &members).unwrap();
            for region in ["RegionTwo", "RegionThree", "-"] {
                let other = owner(&format!("ci/project-{p}/{region}"), &members).unwrap();
                assert_eq!(one, other, "project-{p}: RegionOne and {region} differ");
            }
            *owners_seen.entry(one).or_default() += 1;
        }
        assert_eq!(owners_seen.len(), 3, "{owners_seen:?}");
        assert_eq!(placement("ci/p/RegionOne"), "ci/p");
        assert_eq!(placement("plain"), "plain");
    }

    /// When a member leaves, only its units move; every other unit keeps its owner.
    #[test]
    fn removing_a_member_moves_only_its_units() {
        let all = ["a", "b", "c"];
        let left = ["a", "c"];
        let mut moved = 0;
        for k in keys(300) {
            let before = owner(&k, &all).unwrap();
            let after = owner(&k, &left).unwrap();
            if before == "b" {
                moved += 1;
            } else {
                assert_eq!(
                    before, after,
                    "{k} moved from {before} though {before} stayed"
                );
            }
        }
        assert!(moved > 0);
        assert!(owns("a", "x", &all) || owns("b", "x", &all) || owns("c", "x", &all));
        assert!(!owns("z", "x", &all));
    }
}

//! A static shard, `I/N` (`--shard`, `[coordination] shard`): replica `I` of `N` sweeps
//! the units whose rendezvous owner among the members `"0"`..`"N-1"` is `"I"`. The light
//! option for a StatefulSet (`I` from the pod's ordinal): no store, but no failover.

use std::fmt;
use std::str::FromStr;

use super::assign;

/// Replica `index` of `count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
    /// `"0"`..`"N-1"`, the members rendezvous hashing chooses among.
    members: Vec<String>,
    /// `"I"`.
    me: String,
}

/// Why `I/N` is not a shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not two numbers around a `/`.
    #[error("{0:?} is not a shard: expected I/N, e.g. 0/3 (replica I of N, I from 0 to N-1)")]
    Syntax(String),
    /// `N` is 0.
    #[error("{0:?} is not a shard: N must be at least 1")]
    NoShards(String),
    /// `I` is not below `N`.
    #[error("{text:?} is not a shard: I must be from 0 to {last} (shards count from 0)")]
    OutOfRange {
        /// What was given.
        text: String,
        /// `N - 1`.
        last: usize,
    },
}

impl Shard {
    /// Replica `index` of `count`; `index` must be below `count`.
    pub fn new(index: usize, count: usize) -> Result<Shard, ShardError> {
        let text = format!("{index}/{count}");
        if count == 0 {
            return Err(ShardError::NoShards(text));
        }
        if index >= count {
            return Err(ShardError::OutOfRange {
                text,
                last: count - 1,
            });
        }
        Ok(Shard {
            index,
            count,
            members: (0..count).map(|i| i.to_string()).collect(),
            me: index.to_string(),
        })
    }

    /// `I`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// `N`.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether this shard sweeps the unit of `key` ([`crate::engine::unit::Unit::key`]).
    pub fn owns(&self, key: &str) -> bool {
        assign::owns(&self.me, key, &self.members)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(text.to_owned());
        let (i, n) = text.trim().split_once('/').ok_or_else(syntax)?;
        let i: usize = i.trim().parse().map_err(|_| syntax())?;
        let n: usize = n.trim().parse().map_err(|_| syntax())?;
        Shard::new(i, n).map_err(|e| match e {
            ShardError::NoShards(_) => ShardError::NoShards(text.to_owned()),
            ShardError::OutOfRange { last, .. } => ShardError::OutOfRange {
                text: text.to_owned(),
                last,
            },
            e => e,
        })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// `I/N` parses; `3/3`, `a/2`, `0/0` and friends fail with an error that says why.
    #[test]
    fn parses_and_rejects() {
        let s: Shard = "1/3".parse().unwrap();
        assert_eq!(
            (s.index(), s.count(), s.to_string()),
            (1, 3, "1/3".to_owned())
        );
        assert_eq!("0/1".parse::<Shard>().unwrap().count(), 1);
        let e = "3/3".parse::<Shard>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"3/3\" is not a shard: I must be from 0 to 2 (shards count from 0)"
        );
        assert!(matches!("a/2".parse::<Shard>(), Err(ShardError::Syntax(_))));
        assert!(matches!(
            "0/0".parse::<Shard>(),
            Err(ShardError::NoShards(_))
        ));
        assert!(matches!("2".parse::<Shard>(), Err(ShardError::Syntax(_))));
        assert!(matches!(
            "-1/2".parse::<Shard>(),
            Err(ShardError::Syntax(_))
        ));
    }

    /// N shards together cover every unit exactly once.
    #[test]
    fn shards_cover_every_unit_once() {
        for n in 1..=5 {
            let shards: Vec<Shard> = (0..n).map(|i| Shard::new(i, n).unwrap()).collect();
            for p in 0..300 {
                let key = format!("ci/project-{p}/RegionOne");
                let owners = shards.iter().filter(|s| s.owns(&key)).count();
                assert_eq!(owners, 1, "{key} with {n} shards");
            }
        }
    }
}

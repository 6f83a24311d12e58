//! Sharing the work units between daemon replicas. [`assign`] decides, purely, which
//! member owns a unit (rendezvous hashing); [`shard`] is the static `--shard I/N` split;
//! [`etcd`] lets replicas find each other and lock the units they sweep; [`share`] is
//! what the daemon asks. Without any, one process sweeps everything.

pub mod assign;
pub mod etcd;
pub mod shard;
pub mod share;

pub use self::assign::{owner, owns};
pub use self::shard::{Shard, ShardError};
pub use self::share::{single_key, view_changed, Share, Skip, Turn};

//! Replicas coordinated on etcd. Each replica keeps a *session*: a lease of
//! `lease_ttl`, kept alive, under which it registers `<prefix>/members/<member>`; it
//! watches `<prefix>/members/` for the live member list. A unit belongs to the member
//! rendezvous hashing names ([`super::assign`]); before sweeping it the owner takes
//! `<prefix>/locks/<unit key>` (created only if absent, bound to its lease) and deletes it
//! after. A replica that dies stops renewing its lease: etcd drops its member key and its
//! locks together when the TTL runs out, the others see the member list change and take
//! its units over.
//!
//! The safe side: the session counts as lost as soon as keep-alives go unanswered for
//! half the TTL, before etcd itself would expire the lease, so a replica stops starting
//! deletes (the daemon cancels its units' sweeps, which finish their in-flight deletes
//! only) before another may take its units. It then reconnects with a new lease.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, Identity, PutOptions,
    TlsOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::assign;
use crate::config::EtcdConfig;
use crate::metrics::Metrics;

/// How often a replica whose lock attempt found the unit held looks again.
const LOCK_RETRY: Duration = Duration::from_millis(250);

/// Why the session ended or a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// An etcd request failed (unreachable, timed out, refused).
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    /// Another live replica registered this member name (or this one's previous lease
    /// has not expired yet).
    #[error("member name {0:?} is registered under another lease; waiting for it to expire")]
    MemberTaken(String),
    /// No keep-alive answer for half the TTL.
    #[error("no keep-alive answer from etcd for {0:?}")]
    Silent(Duration),
    /// etcd answered that the lease is gone.
    #[error("the lease expired")]
    LeaseExpired,
    /// A stream from etcd ended.
    #[error("etcd closed the {0} stream")]
    Closed(&'static str),
    /// There is no session right now.
    #[error("no etcd session")]
    Down,
    /// A TLS file or the password's environment variable could not be read.
    #[error("etcd connection settings: {0}")]
    Config(String),
}

/// What a replica knows of the group, as the scheduler and `/readyz` read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Whether this replica's session is alive (it may start deletes).
    pub up: bool,
    /// The live members (sorted), as last seen.
    pub members: Vec<String>,
    /// Counts sessions: a unit's sweep started under one stops when it changes.
    pub session: u64,
}

/// A live session: the client and the lease everything of this replica is bound to.
#[derive(Clone)]
struct Session {
    client: Client,
    lease: i64,
}

/// This replica's membership in the group; [`EtcdMember::run`] keeps it up.
pub struct EtcdMember {
    config: EtcdConfig,
    name: String,
    view: watch::Sender<View>,
    session: Mutex<Option<Session>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for EtcdMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdMember")
            .field("name", &self.name)
            .field("view", &*self.view.borrow())
            .finish_non_exhaustive()
    }
}

/// A unit's lock, held until [`UnitLock::release`] (or until the lease expires).
pub struct UnitLock {
    key: String,
    session: Session,
}

impl UnitLock {
    /// Deletes the lock if it is still this session's (a failure is logged: the lease
    /// expiring removes it anyway).
    pub async fn release(self) {
        let UnitLock { key, session } = self;
        let txn = Txn::new()
            .when([Compare::lease(
                key.as_str(),
                CompareOp::Equal,
                session.lease,
            )])
            .and_then([TxnOp::delete(key.as_str(), None)]);
        if let Err(e) = session.client.clone().txn(txn).await {
            tracing::warn!(lock = %key, error = %e, "cannot release a unit lock; it goes with the lease");
        }
    }
}

/// TLS and authentication as configured: the files are read and the password taken
/// from its environment variable at each connection (a rotated certificate is picked
/// up by the next session).
fn connect_options(config: &EtcdConfig) -> Result<ConnectOptions, EtcdError> {
    let mut options = ConnectOptions::new();
    if let Some(tls) = &config.tls {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| EtcdError::Config(format!("{}: {e}", path.display())))
        };
        let mut settings = TlsOptions::new();
        settings = match &tls.ca_file {
            Some(ca) => settings.ca_certificate(Certificate::from_pem(read(ca)?)),
            None => settings.with_native_roots(),
        };
        if let Some((cert, key)) = &tls.identity {
            settings = settings.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        options = options.with_tls(settings);
    }
    if let Some(auth) = &config.auth {
        let password = std::env::var(&auth.password_env).map_err(|_| {
            EtcdError::Config(format!(
                "the environment variable {} is not set",
                auth.password_env
            ))
        })?;
        options = options.with_user(auth.username.clone(), password);
    }
    Ok(options)
}

/// The member name when none is configured: `POD_NAME` (Kubernetes' downward API), else
/// the host name, else `stacksweep-<pid>`.
pub fn default_member_name() -> String {
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    from_env("POD_NAME")
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .or_else(|| from_env("HOSTNAME"))
        .unwrap_or_else(|| format!("stacksweep-{}", std::process::id()))
}

impl EtcdMember {
    /// A member named as configured (else [`default_member_name`]), not yet connected.
    pub fn new(config: EtcdConfig, metrics: Arc<Metrics>) -> Arc<EtcdMember> {
        let name = config.member.clone().unwrap_or_else(default_member_name);
        metrics.set_coordination_session(false);
        Arc::new(EtcdMember {
            config,
            name,
            view: watch::Sender::new(View::default()),
            session: Mutex::new(None),
            metrics,
        })
    }

    /// The metrics it records into.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// This replica's member name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lease TTL: how long a dead replica's units stay with it.
    pub fn lease_ttl(&self) -> Duration {
        self.config.lease_ttl
    }

    /// The view now.
    pub fn view(&self) -> View {
        self.view.borrow().clone()
    }

    /// Follows the view.
    pub fn subscribe(&self) -> watch::Receiver<View> {
        self.view.subscribe()
    }

    /// Whether this replica owns the unit of `key` now (never while the session is down).
    pub fn owns(&self, key: &str) -> bool {
        let view = self.view.borrow();
        view.up && assign::owns(&self.name, key, &view.members)
    }

    fn members_prefix(&self) -> String {
        format!("{}/members/", self.config.prefix)
    }

    fn lock_key(&self, key: &str) -> String {
        format!("{}/locks/{key}", self.config.prefix)
    }

    fn current(&self) -> Option<Session> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes the lock of the unit of `key` for this session. Waits (counted in
    /// `stacksweep_coordination_lock_waits_total`) while another replica holds it, up to
    /// the lease TTL; `None` when it stays held, the unit is no longer ours, or `cancel`.
    pub async fn lock(
        &self,
        key: &str,
        cancel: &CancellationToken,
    ) -> Result<Option<UnitLock>, EtcdError> {
        let lock_key = self.lock_key(key);
        let deadline = Instant::now() + self.config.lease_ttl;
        let mut waited = false;
        loop {
            if !self.owns(key) {
                return Ok(None);
            }
            let session = self.current().ok_or(EtcdError::Down)?;
            let txn = Txn::new()
                .when([Compare::create_revision(
                    lock_key.as_str(),
                    CompareOp::Equal,
                    0,
                )])
                .and_then([TxnOp::put(
                    lock_key.as_str(),
                    self.name.as_str(),
                    Some(PutOptions::new().with_lease(session.lease)),
                )])
                .or_else([TxnOp::get(lock_key.as_str(), None)]);
            let answer = session.client.clone().txn(txn).await?;
            let holder = answer.op_responses().into_iter().find_map(|r| match r {
                TxnOpResponse::Get(g) => g
                    .kvs()
                    .first()
                    .map(|kv| (kv.lease(), String::from_utf8_lossy(kv.value()).into_owned())),
                _ => None,
            });
            // Ours already: a release that failed earlier in this session.
            let ours = holder.as_ref().is_some_and(|(l, _)| *l == session.lease);
            if answer.succeeded() || ours {
                return Ok(Some(UnitLock {
                    key: lock_key,
                    session,
                }));
            }
            if !waited {
                waited = true;
                self.metrics.inc_lock_waits();
                tracing::info!(unit = %key, holder = ?holder.map(|h| h.1),
                    "unit locked by another replica: waiting");
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::select! {
                () = cancel.cancelled() => return Ok(None),
                () = tokio::time::sleep(LOCK_RETRY) => {}
            }
        }
    }

    /// Resolves when the session of `view` ends (at once if it is not up).
    pub async fn session_ended(&self, session: u64) {
        let mut rx = self.view.subscribe();
        // `wait_for` errs only when the sender is gone: the member is, too.
        let _ = rx.wait_for(|v| !v.up || v.session != session).await;
    }

    /// Keeps a session up until `stop`: connects, registers, keeps the lease alive and
    /// follows the member list; on any failure marks the session down and starts over.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let pause = (self.config.lease_ttl / 4).max(Duration::from_millis(250));
        loop {
            let result = self.session_once(&stop).await;
            self.set_down();
            match result {
                Ok(()) => return,
                Err(e) => tracing::warn!(member = %self.name, error = %e,
                    "etcd session lost or not established: starting no deletes until it is back"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    fn set_down(&self) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.view
            .send_if_modified(|v| std::mem::replace(&mut v.up, false));
        self.metrics.set_coordination_session(false);
    }

    /// One session, from connecting to its end: `Ok` only when `stop` ended it.
    async fn session_once(&self, stop: &CancellationToken) -> Result<(), EtcdError> {
        let ttl = self.config.lease_ttl;
        let options = connect_options(&self.config)?
            .with_connect_timeout(ttl / 2)
            .with_timeout(ttl / 2)
            .with_keep_alive(ttl / 3, ttl / 3);
        let mut client = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            c = Client::connect(&self.config.endpoints, Some(options)) => c?,
        };
        let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let lease = client.lease_grant(ttl_secs, None).await?.id();
        let me = format!("{}{}", self.members_prefix(), self.name);
        let register = Txn::new()
            .when([Compare::create_revision(me.as_str(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                me.as_str(),
                self.name.as_str(),
                Some(PutOptions::new().with_lease(lease)),
            )]);
        if !client.txn(register).await?.succeeded() {
            let _ = client.lease_revoke(lease).await;
            return Err(EtcdError::MemberTaken(self.name.clone()));
        }
        let (mut keeper, mut acks) = client.lease_keep_alive(lease).await?;
        let mut watch = client
            .watch(
                self.members_prefix(),
                Some(WatchOptions::new().with_prefix()),
            )
            .await?;
        let members = self.members(&mut client).await?;
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = Some(Session {
            client: client.clone(),
            lease,
        });
        self.view.send_modify(|v| {
            v.up = true;
            v.session += 1;
            v.members = members;
        });
        self.metrics.set_coordination_session(true);
        tracing::info!(member = %self.name, lease, members = ?self.view.borrow().members,
            "etcd session up");

        let silent = ttl / 2;
        let mut last_ack = Instant::now();
        let mut tick = tokio::time::interval(ttl / 4);
        loop {
            tokio::select! {
                () = stop.cancelled() => {
                    self.set_down();
                    // Leave at once rather than after the TTL: our units move now.
                    let _ = tokio::time::timeout(Duration::from_secs(1), client.lease_revoke(lease)).await;
                    return Ok(());
                }
                _ = tick.tick() => {
                    if last_ack.elapsed() > silent {
                        return Err(EtcdError::Silent(silent));
                    }
                    keeper.keep_alive().await?;
                }
                ack = acks.message() => match ack? {
                    Some(a) if a.ttl() > 0 => last_ack = Instant::now(),
                    Some(_) => return Err(EtcdError::LeaseExpired),
                    None => return Err(EtcdError::Closed("keep-alive")),
                },
                event = watch.message() => match event? {
                    Some(_) => {
                        let members = self.members(&mut client).await?;
                        self.view.send_if_modified(|v| {
                            let changed = v.members != members;
                            v.members = members;
                            changed
                        });
                    }
                    None => return Err(EtcdError::Closed("watch")),
                },
            }
        }
    }

    /// The live members, sorted; records their number.
    async fn members(&self, client: &mut Client) -> Result<Vec<String>, EtcdError> {
        let prefix = self.members_prefix();
        let listed = client
            .get(
                prefix.as_str(),
                Some(GetOptions::new().with_prefix().with_keys_only()),
            )
            .await?;
        let mut members: Vec<String> = listed
            .kvs()
            .iter()
            .filter_map(|kv| {
                let key = String::from_utf8_lossy(kv.key());
                key.strip_prefix(&prefix).map(str::to_owned)
            })
            .collect();
        members.sort();
        self.metrics.set_coordination_members("etcd", members.len());
        Ok(members)
    }
}

//! The registry: every sandbox and exposed port, in memory for the gateway's lookups, written
//! through to a [`Store`] before any change is acknowledged.
//!
//! Writers are serialised by the store's lock and apply a change to the in-memory index only
//! after the store has made it durable, so a failed write changes nothing. Readers (the
//! gateway) take a read lock on the index alone.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::hostname::Hostname;
use crate::lifecycle::{Lifecycle, PortCounters, Summary};
use crate::preview_url::preview_url;
use crate::rules::Rules;
use crate::store::now_ms;
use crate::store::{
    Change, ChangeFeed, ExposureRecord, FeedEvent, Revision, SandboxRecord, SandboxStatus, Store,
};
use crate::throttle::Throttle;
use crate::token::{MAX_TOKEN_LENGTH, generate_token, padded, tokens_equal};
use crate::upstream_policy::OwnListeners;

/// How many times a write to a shared store is tried when other processes keep writing the
/// same sandbox first.
const MAX_WRITE_ATTEMPTS: usize = 64;

/// What the gateway should do with a request, decided from its Host header.
///
/// ```
/// # async fn demo() -> portway::Result<()> {
/// let portway = portway::Portway::builder().build()?;
/// let sb = portway.sandbox("box", "127.0.0.1")?;
/// let exposed = sb.expose_port(8080, portway::ExposeOptions::new("localhost")).await?;
/// let host = exposed.url.trim_start_matches("http://").trim_end_matches('/');
/// assert!(matches!(portway.resolve(host), portway::Resolution::Upstream(_)));
/// assert_eq!(portway.resolve("8080-box-wrongtoken.localhost"), portway::Resolution::Denied);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Not a preview host of this gateway (404 `NOT_FOUND`, or the host application's own
    /// routes when embedded).
    NotPreview,
    /// Unknown sandbox, unexposed port, wrong token or destroyed sandbox, all alike (404
    /// `INVALID_TOKEN`).
    Denied,
    /// The right token for a stopped sandbox (410 `STALE_PREVIEW_URL`).
    Stale {
        /// The sandbox id.
        sandbox_id: String,
        /// The port.
        port: u16,
    },
    /// Forward to this upstream.
    Upstream(Upstream),
}

impl Resolution {
    /// Every kind, as [`Resolution::kind`] names it.
    pub const KINDS: [&'static str; 4] = ["not_preview", "denied", "stale", "upstream"];

    /// What the gateway does, by name: `"not_preview"`, `"denied"`, `"stale"` or
    /// `"upstream"` (the `kind` the bindings report).
    ///
    /// ```
    /// assert_eq!(portway::Resolution::Denied.kind(), "denied");
    /// ```
    pub fn kind(&self) -> &'static str {
        let i = match self {
            Resolution::NotPreview => 0,
            Resolution::Denied => 1,
            Resolution::Stale { .. } => 2,
            Resolution::Upstream(_) => 3,
        };
        Self::KINDS[i]
    }

    /// The sandbox (stale and upstream).
    pub fn sandbox_id(&self) -> Option<&str> {
        match self {
            Resolution::Stale { sandbox_id, .. } => Some(sandbox_id),
            Resolution::Upstream(up) => Some(up.sandbox_id()),
            Resolution::NotPreview | Resolution::Denied => None,
        }
    }

    /// The port (stale and upstream).
    pub fn port(&self) -> Option<u16> {
        match self {
            Resolution::Stale { port, .. } => Some(*port),
            Resolution::Upstream(up) => Some(up.port()),
            Resolution::NotPreview | Resolution::Denied => None,
        }
    }

    /// The host the request is forwarded to (upstream).
    pub fn upstream_host(&self) -> Option<&str> {
        match self {
            Resolution::Upstream(up) => Some(up.host()),
            _ => None,
        }
    }
}

/// Where a preview request goes: a port on the host a sandbox's services listen on.
///
/// It shares its sandbox's target with the route table (one reference count to take per
/// lookup, on memory the lookup has just read), so its parts are read through methods.
#[derive(Debug, Clone)]
pub struct Upstream {
    target: Arc<RouteTarget>,
    port: u16,
    /// The port's activity counters, which the request counts on.
    activity: Arc<PortCounters>,
}

impl Upstream {
    /// The sandbox id.
    pub fn sandbox_id(&self) -> &str {
        &self.target.sandbox_id
    }

    /// The host the sandbox's services listen on.
    pub fn host(&self) -> &str {
        &self.target.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The sandbox id, shared (the gateway keys its per-sandbox limits by it).
    pub(crate) fn sandbox_id_shared(&self) -> &Arc<str> {
        &self.target.sandbox_id
    }

    /// The host, shared (the gateway keys its connection pool by it).
    pub(crate) fn host_shared(&self) -> &Arc<str> {
        &self.target.host
    }

    /// The port's activity counters.
    pub(crate) fn activity(&self) -> &Arc<PortCounters> {
        &self.activity
    }
}

impl PartialEq for Upstream {
    fn eq(&self, other: &Self) -> bool {
        self.port == other.port
            && self.sandbox_id() == other.sandbox_id()
            && self.host() == other.host()
    }
}

impl Eq for Upstream {}

/// A sandbox as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxInfo {
    /// The sandbox id.
    pub id: String,
    /// The host its services listen on.
    pub upstream_host: String,
    /// Running or stopped.
    pub status: SandboxStatus,
    /// How many ports it has exposed.
    pub exposed_ports: usize,
}

#[derive(Debug)]
struct SandboxEntry {
    upstream_host: Arc<str>,
    /// What its routes lead to (its id and upstream host), shared by all of them.
    target: Arc<RouteTarget>,
    status: SandboxStatus,
    ports: BTreeMap<u16, PortEntry>,
}

#[derive(Debug, Clone)]
pub(crate) struct PortEntry {
    pub token: String,
    pub name: Option<String>,
    pub created_at_ms: i64,
}

/// Every sandbox by id (what the API reads and writes), and the gateway's flat route table
/// derived from it, changed together under one lock.
#[derive(Debug, Default)]
struct Index {
    sandboxes: HashMap<Arc<str>, SandboxEntry>,
    routes: RouteTable,
    /// Where each route's activity counters come from.
    lifecycle: Arc<Lifecycle>,
}

impl Deref for Index {
    type Target = HashMap<Arc<str>, SandboxEntry>;
    fn deref(&self) -> &Self::Target {
        &self.sandboxes
    }
}

impl DerefMut for Index {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.sandboxes
    }
}

impl Index {
    /// Makes the routes of `ports` of sandbox `id` match its entry (or removes them).
    fn sync_routes(&mut self, id: &str, ports: impl IntoIterator<Item = u16>) {
        let sb = self.sandboxes.get(id);
        for port in ports {
            match sb.and_then(|sb| Some((sb, sb.ports.get(&port)?))) {
                Some((sb, e)) => {
                    let activity = self.lifecycle.port(&sb.target.sandbox_id, port);
                    self.routes
                        .insert(&sb.target, port, &e.token, sb.status, activity)
                }
                None => {
                    self.routes.remove(id, port);
                    self.lifecycle.remove_port(id, port);
                }
            }
        }
    }

    /// Puts sandbox `record.id`'s entry as the store holds it (or removes sandbox `id` when
    /// the store holds none), routes included: what a shared store says wins.
    fn replace(&mut self, id: &str, record: Option<SandboxRecord>) {
        let mut ports: Vec<u16> = self
            .sandboxes
            .get(id)
            .map(|s| s.ports.keys().copied().collect())
            .unwrap_or_default();
        match record {
            None => {
                self.sandboxes.remove(id);
            }
            Some(record) => {
                ports.extend(record.exposures.iter().map(|e| e.port));
                let (id, entry) = sandbox_entry(record);
                self.sandboxes.insert(id, entry);
            }
        }
        self.sync_routes(id, ports);
    }

    /// The index of everything a store holds.
    fn of_records(records: Vec<SandboxRecord>, lifecycle: &Arc<Lifecycle>) -> Index {
        let mut index = Index {
            lifecycle: lifecycle.clone(),
            ..Index::default()
        };
        for record in records {
            let (id, entry) = sandbox_entry(record);
            index.insert(id.clone(), entry);
            index.sync_sandbox(&id);
        }
        index
    }

    /// Makes every route of a sandbox match its entry (status or upstream changed).
    /// What the lifecycle events of sandbox `id` are derived from.
    fn summary(&self, id: &str) -> Option<Summary> {
        self.sandboxes.get(id).map(|sb| Summary {
            status: sb.status,
            ports: sb.ports.keys().copied().collect(),
        })
    }

    fn sync_sandbox(&mut self, id: &str) {
        let ports: Vec<u16> = self
            .sandboxes
            .get(id)
            .map(|s| s.ports.keys().copied().collect())
            .unwrap_or_default();
        self.sync_routes(id, ports);
    }
}

/// Where the routes of one sandbox lead; shared by its routes.
#[derive(Debug)]
struct RouteTarget {
    sandbox_id: Arc<str>,
    host: Arc<str>,
}

impl RouteTarget {
    fn new(sandbox_id: &Arc<str>, host: &Arc<str>) -> Arc<RouteTarget> {
        Arc::new(RouteTarget {
            sandbox_id: sandbox_id.clone(),
            host: host.clone(),
        })
    }
}

/// One exposed port as the gateway needs it: 40 bytes, the token inline (zero-padded) and
/// the port's activity counters by reference, so
/// that the table of 100,000 routes stays a few MiB and a lookup touches one slot of it and
/// its sandbox's shared target.
#[derive(Debug)]
pub(crate) struct RouteSlot {
    target: Arc<RouteTarget>,
    activity: Arc<PortCounters>,
    token: [u8; MAX_TOKEN_LENGTH],
    port: u16,
    status: SandboxStatus,
}

impl RouteSlot {
    fn is(&self, id: &str, port: u16) -> bool {
        self.port == port && *self.target.sandbox_id == *id
    }

    /// The port's token, zero-padded to [`MAX_TOKEN_LENGTH`].
    pub(crate) fn token(&self) -> &[u8; MAX_TOKEN_LENGTH] {
        &self.token
    }

    /// Whether its sandbox runs.
    pub(crate) fn status(&self) -> SandboxStatus {
        self.status
    }

    /// Where requests for it go.
    pub(crate) fn upstream(&self) -> Upstream {
        Upstream {
            target: self.target.clone(),
            port: self.port,
            activity: self.activity.clone(),
        }
    }
}

/// The gateway's route table: every exposed port, keyed by port and sandbox id.
#[derive(Debug, Default)]
struct RouteTable {
    slots: hashbrown::HashTable<RouteSlot>,
    hasher: RouteHasher,
}

impl RouteTable {
    fn hash(&self, id: &str, port: u16) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write_u16(port);
        h.write(id.as_bytes());
        h.finish()
    }

    fn get(&self, id: &str, port: u16) -> Option<&RouteSlot> {
        self.slots.find(self.hash(id, port), |s| s.is(id, port))
    }

    fn insert(
        &mut self,
        target: &Arc<RouteTarget>,
        port: u16,
        token: &str,
        status: SandboxStatus,
        activity: Arc<PortCounters>,
    ) {
        let slot = RouteSlot {
            target: target.clone(),
            activity,
            token: padded(token.as_bytes()),
            port,
            status,
        };
        let id = &*target.sandbox_id;
        let hash = self.hash(id, port);
        let hasher = self.hasher;
        match self.slots.entry(
            hash,
            |s| s.is(id, port),
            |s| {
                let mut h = hasher.build_hasher();
                h.write_u16(s.port);
                h.write(s.target.sandbox_id.as_bytes());
                h.finish()
            },
        ) {
            hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = slot,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(slot);
            }
        }
    }

    fn remove(&mut self, id: &str, port: u16) {
        if let Ok(e) = self
            .slots
            .find_entry(self.hash(id, port), |s| s.is(id, port))
        {
            e.remove();
        }
    }
}

/// A fast keyed hash for the route table (a multiply-rotate hash over 8-byte words, seeded
/// per process from the OS). Keys are written by the platform, not by clients; the random
/// seed keeps collisions from being computed offline all the same.
#[derive(Debug, Clone, Copy)]
struct RouteHasher {
    seed: u64,
}

impl Default for RouteHasher {
    fn default() -> Self {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        RouteHasher {
            seed: u64::from_ne_bytes(seed) | 1,
        }
    }
}

impl BuildHasher for RouteHasher {
    type Hasher = WordHasher;
    fn build_hasher(&self) -> WordHasher {
        WordHasher(self.seed)
    }
}

struct WordHasher(u64);

const HASH_K: u64 = 0x9e37_79b9_7f4a_7c15;

impl WordHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(HASH_K);
    }
}

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn finish(&self) -> u64 {
        // A final avalanche so the table's low and high bits both vary.
        let mut h = self.0;
        h ^= h >> 32;
        h = h.wrapping_mul(HASH_K);
        h ^ (h >> 29)
    }
}

/// A port of a sandbox with its URL parts, as the registry hands it to the API layer.
#[derive(Debug, Clone)]
pub(crate) struct PortView {
    pub port: u16,
    pub token: String,
    pub name: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Registry {
    pub rules: Rules,
    store: Mutex<Box<dyn Store>>,
    index: RwLock<Index>,
    /// The addresses this Portway listens on: never a valid upstream.
    pub listeners: Arc<OwnListeners>,
    /// A shared store: its revision just before [`Registry::open`] read it.
    loaded_at: Option<Revision>,
    /// Activity, events and wakes (shared with the index, which reports every change).
    pub lifecycle: Arc<Lifecycle>,
}

impl Registry {
    /// Loads everything the store holds.
    pub fn open(rules: Rules, mut store: Box<dyn Store>) -> Result<Registry> {
        // A shared store: its revision before the read, where following it starts.
        let loaded_at = if store.shared() {
            Some(store.revision()?)
        } else {
            None
        };
        let lifecycle = Arc::new(Lifecycle::default());
        let records = store.load()?;
        let index = Index::of_records(Vec::new(), &lifecycle);
        let registry = Registry {
            rules,
            store: Mutex::new(store),
            index: RwLock::new(index),
            listeners: Arc::default(),
            loaded_at,
            lifecycle,
        };
        let loaded = Index::of_records(records, &registry.lifecycle);
        registry.replace_all(loaded);
        Ok(registry)
    }

    fn writer(&self) -> MutexGuard<'_, Box<dyn Store>> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes sandbox `id` in the index, and reports the change to the lifecycle (its
    /// events), under the index's lock so that the events come in the order of the changes.
    fn update(&self, id: &str, f: impl FnOnce(&mut Index)) {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let before = index.summary(id);
        f(&mut index);
        let after = index.summary(id);
        self.lifecycle.changed(id, before.as_ref(), after.as_ref());
    }

    /// Replaces the whole index (a full read of the store), reporting each sandbox that
    /// changed.
    fn replace_all(&self, new: Index) {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let mut ids: Vec<Arc<str>> = index.sandboxes.keys().cloned().collect();
        ids.extend(
            new.sandboxes
                .keys()
                .filter(|id| !index.contains_key(&***id))
                .cloned(),
        );
        let before: Vec<Option<Summary>> = ids.iter().map(|id| index.summary(id)).collect();
        *index = new;
        for (id, before) in ids.iter().zip(before) {
            self.lifecycle
                .changed(id, before.as_ref(), index.summary(id).as_ref());
        }
    }

    /// Runs one write to sandbox `id` under the store's lock. With a shared store, the
    /// sandbox is read fresh from the store first (so the rules see what every process
    /// wrote), and `attempt` is run again when another process wrote the sandbox before the
    /// change was committed (`attempt` answers `None` when [`Store::try_apply`] said so).
    fn transact<T>(
        &self,
        id: &str,
        mut attempt: impl FnMut(&mut dyn Store) -> Result<Option<T>>,
    ) -> Result<T> {
        let mut store = self.writer();
        for _ in 0..MAX_WRITE_ATTEMPTS {
            if store.shared() {
                let fresh = store.read_for_write(id)?;
                self.update(id, |index| index.replace(id, fresh));
            }
            if let Some(done) = attempt(store.as_mut())? {
                return Ok(done);
            }
        }
        Err(Error::Store(format!(
            "sandbox {id:?} was changed by other processes on each of {MAX_WRITE_ATTEMPTS} \
             attempts to write it; nothing was written"
        )))
    }

    /// A shared store: sandbox `id` read again from the store into the index (a change
    /// another process made). Under the store's lock, so it never lands over a newer write
    /// of this process.
    pub fn refresh(&self, id: &str) -> Result<()> {
        let mut store = self.writer();
        let fresh = store.read(id)?;
        self.update(id, |index| index.replace(id, fresh));
        Ok(())
    }

    /// A shared store: everything read again (changes were missed); the revision the
    /// store was at before it was read, so that every later change is applied after.
    pub fn reload(&self) -> Result<Revision> {
        let mut store = self.writer();
        let revision = store.revision()?;
        let index = Index::of_records(store.load()?, &self.lifecycle);
        self.replace_all(index);
        Ok(revision)
    }

    /// A shared store: where it is in its history ([`Store::revision`]).
    pub fn store_revision(&self) -> Result<Revision> {
        self.writer().revision()
    }

    /// A shared store: the feed of the changes every process writes to it.
    pub fn feed(&self) -> Option<Box<dyn ChangeFeed>> {
        self.writer().feed()
    }

    /// Exposes `port` (already validated with its host name, name and custom token).
    pub fn expose(
        &self,
        id: &str,
        upstream_host: &str,
        port: u16,
        host: &Hostname,
        name: Option<&str>,
        custom_token: Option<&str>,
    ) -> Result<(String, Option<String>)> {
        self.transact(id, |store| {
            let (record, status, url) = {
                let index = self.read();
                let sandbox = index.get(id);
                let existing = sandbox.and_then(|s| s.ports.get(&port));
                let in_use = |token: &str| {
                    sandbox.and_then(|s| {
                        s.ports
                            .iter()
                            .find(|(p, e)| **p != port && tokens_equal(&e.token, token))
                            .map(|(p, _)| *p)
                    })
                };
                let token = match (custom_token, existing) {
                    (Some(t), _) => t.to_owned(),
                    (None, Some(e)) => e.token.clone(),
                    (None, None) => loop {
                        let t = generate_token();
                        if in_use(&t).is_none() {
                            break t;
                        }
                    },
                };
                let url = preview_url(port, id, &token, host.host(), host.port())?;
                if let Some(other) = in_use(&token) {
                    return Err(Error::TokenInUse { token, port: other });
                }
                let record = ExposureRecord {
                    port,
                    token,
                    name: name
                        .map(str::to_owned)
                        .or_else(|| existing.and_then(|e| e.name.clone())),
                    created_at_ms: existing.map_or_else(now_ms, |e| e.created_at_ms),
                };
                (
                    record,
                    sandbox.map_or(SandboxStatus::Running, |s| s.status),
                    url,
                )
            };
            if !store.try_apply(Change::PutExposure {
                sandbox_id: id,
                upstream_host,
                status,
                exposure: &record,
            })? {
                return Ok(None);
            }
            let name = record.name.clone();
            self.update(id, |index| {
                let sb = entry(index, id, upstream_host, status);
                let entry = PortEntry {
                    token: record.token,
                    name: record.name,
                    created_at_ms: record.created_at_ms,
                };
                sb.ports.insert(port, entry);
                index.sync_routes(id, [port]);
            });
            Ok(Some((url, name)))
        })
    }

    /// Unexposes a port; nothing happens if it is not exposed.
    pub fn unexpose(&self, id: &str, port: u16) -> Result<()> {
        self.transact(id, |store| {
            if !self
                .read()
                .get(id)
                .is_some_and(|s| s.ports.contains_key(&port))
            {
                return Ok(Some(()));
            }
            if !store.try_apply(Change::DeleteExposure {
                sandbox_id: id,
                port,
            })? {
                return Ok(None);
            }
            self.update(id, |index| {
                if let Some(sb) = index.get_mut(id) {
                    sb.ports.remove(&port);
                }
                index.sync_routes(id, [port]);
            });
            Ok(Some(()))
        })
    }

    /// Creates or updates a sandbox. `None` keeps the stored value (or the default for a new
    /// sandbox: `default_upstream`, running).
    pub fn put_sandbox(
        &self,
        id: &str,
        upstream_host: Option<&str>,
        default_upstream: &str,
        status: Option<SandboxStatus>,
    ) -> Result<SandboxInfo> {
        self.transact(id, |store| {
            let (upstream, status) = {
                let index = self.read();
                let current = index.get(id);
                let upstream = upstream_host
                    .map(Arc::<str>::from)
                    .or_else(|| current.map(|s| s.upstream_host.clone()))
                    .unwrap_or_else(|| default_upstream.into());
                (
                    upstream,
                    status.or(current.map(|s| s.status)).unwrap_or_default(),
                )
            };
            if !store.try_apply(Change::PutSandbox {
                id,
                upstream_host: &upstream,
                status,
            })? {
                return Ok(None);
            }
            let mut exposed_ports = 0;
            self.update(id, |index| {
                let sb = entry(index, id, &upstream, status);
                exposed_ports = sb.ports.len();
                index.sync_sandbox(id);
            });
            Ok(Some(SandboxInfo {
                id: id.into(),
                upstream_host: upstream.to_string(),
                status,
                exposed_ports,
            }))
        })
    }

    /// Forgets a sandbox and every token it had; nothing happens if it is unknown.
    pub fn destroy(&self, id: &str) -> Result<bool> {
        self.transact(id, |store| {
            if !self.read().contains_key(id) {
                return Ok(Some(false));
            }
            if !store.try_apply(Change::DeleteSandbox { id })? {
                return Ok(None);
            }
            self.update(id, |index| index.replace(id, None));
            Ok(Some(true))
        })
    }

    /// The exposed ports of a sandbox, sorted, with its status (`None` if unknown).
    pub fn ports(&self, id: &str) -> Option<(SandboxStatus, Vec<PortView>)> {
        let index = self.read();
        let sb = index.get(id)?;
        let ports = sb
            .ports
            .iter()
            .map(|(&port, e)| PortView {
                port,
                token: e.token.clone(),
                name: e.name.clone(),
            })
            .collect();
        Some((sb.status, ports))
    }

    pub fn is_exposed(&self, id: &str, port: u16) -> bool {
        self.read()
            .get(id)
            .is_some_and(|s| s.ports.contains_key(&port))
    }

    pub fn validate_token(&self, id: &str, port: u16, token: &str) -> bool {
        self.read()
            .get(id)
            .and_then(|s| s.ports.get(&port))
            .is_some_and(|e| tokens_equal(&e.token, token))
    }

    pub fn sandbox(&self, id: &str) -> Option<SandboxInfo> {
        self.read().get(id).map(|s| info(id, s))
    }

    pub fn sandboxes(&self) -> Vec<SandboxInfo> {
        let index = self.read();
        let mut all: Vec<_> = index.iter().map(|(id, s)| info(id, s)).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// The gateway's lookup: one read lock, one lookup in the flat route table keyed by port
    /// and sandbox id (a slice of the host itself); `f` gets the exposed port, if there is
    /// one, while the lock is held. What to make of it (the token compare, the sandbox's
    /// status) is the gateway's route phase.
    #[inline]
    pub fn lookup<R>(&self, id: &str, port: u16, f: impl FnOnce(Option<&RouteSlot>) -> R) -> R {
        f(self.read().routes.get(id, port))
    }
}

/// How often a follower asks a shared store whether it missed a change.
const FOLLOW_CHECK_EVERY: Duration = Duration::from_secs(1);

/// A shared store: a thread that keeps `registry` up to date with the changes every other
/// process writes, read from the store's feed. Each change re-reads its sandbox; a change
/// missed (a gap in the revisions, a reconnect, a revision ahead of the last change seen at
/// two checks a second apart) re-reads everything. The thread ends once the registry is
/// dropped (within half a second). Nothing for a store only this process writes.
pub(crate) fn follow(registry: &Arc<Registry>) {
    let Some(mut feed) = registry.feed() else {
        return;
    };
    let weak = Arc::downgrade(registry);
    let loaded_at = registry.loaded_at.clone();
    let spawned = std::thread::Builder::new()
        .name("portway-follow".into())
        .spawn(move || {
            let mut follower = Follower {
                at: loaded_at,
                ..Follower::default()
            };
            loop {
                let event = feed.next(Duration::from_millis(500));
                let Some(registry) = weak.upgrade() else {
                    return;
                };
                follower.on(&registry, event);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start following the shared store");
    }
}

/// Where a follower is: the revision its registry holds, and what the last check saw.
#[derive(Debug)]
struct Follower {
    /// The revision the registry is known to hold (`None` only when it could not be read).
    at: Option<Revision>,
    /// The store's revision at the last check, if it was ahead of `at`.
    ahead: Option<u64>,
    last_check: Instant,
    down: Throttle,
}

impl Default for Follower {
    fn default() -> Follower {
        Follower {
            at: None,
            ahead: None,
            last_check: Instant::now(),
            down: Throttle::new(Duration::from_secs(10)),
        }
    }
}

impl Follower {
    fn on(&mut self, registry: &Registry, event: FeedEvent) {
        match event {
            FeedEvent::Connected => self.resync(registry),
            FeedEvent::Changed { revision, sandbox } => match &mut self.at {
                Some(at) if revision == at.number + 1 => match registry.refresh(&sandbox) {
                    Ok(()) => at.number = revision,
                    // Left behind: the next check sees the store ahead and reads everything.
                    Err(e) => tracing::warn!(error = %e, "could not read a changed sandbox"),
                },
                // Already in what the last full read saw.
                Some(at) if revision <= at.number => {}
                _ => self.resync(registry),
            },
            FeedEvent::Quiet => {
                if self.at.is_none() || self.last_check.elapsed() >= FOLLOW_CHECK_EVERY {
                    self.last_check = Instant::now();
                    self.check(registry);
                }
            }
            FeedEvent::Down(why) => {
                if let Some(suppressed) = self.down.hit() {
                    tracing::warn!(
                        reason = %why,
                        suppressed,
                        "lost the shared store's change feed; serving from memory, reconnecting"
                    );
                }
            }
        }
    }

    /// Whether the store is ahead of the registry: a change is missed when it stays ahead
    /// from one check to the next (a message merely in flight arrives in between).
    fn check(&mut self, registry: &Registry) {
        let Ok(now) = registry.store_revision() else {
            return; // unreachable: the feed says so
        };
        let at = match &self.at {
            None => return self.resync(registry),
            Some(at) => at,
        };
        if now.epoch != at.epoch {
            return self.resync(registry);
        }
        // (resync keeps the copy when the epoch changed.)
        match self.ahead {
            Some(seen) if at.number < seen => {
                tracing::warn!(
                    at = at.number,
                    store = now.number,
                    "missed changes of the shared store; reading everything again"
                );
                self.resync(registry);
            }
            _ => self.ahead = (now.number > at.number).then_some(now.number),
        }
    }

    /// Reads everything again, unless the store lost everything it held (its epoch
    /// changed): then the registry keeps serving what it has, and says so loudly.
    fn resync(&mut self, registry: &Registry) {
        self.ahead = None;
        // Twice: the first command after the store came back may find the old connection
        // broken (and make a new one).
        let now = match registry
            .store_revision()
            .or_else(|_| registry.store_revision())
        {
            Ok(now) => now,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the shared store; will try again");
                return;
            }
        };
        if self.at.as_ref() == Some(&now) {
            return; // nothing was missed
        }
        if let Some(at) = &self.at
            && now.epoch != at.epoch
        {
            // A store that lost its data, or one that has been written since (a new epoch
            // after an empty one): keep the copy, follow from here.
            if !at.epoch.is_empty() {
                tracing::error!(
                    was = %at.epoch,
                    now = %now.epoch,
                    "the shared store lost its data (its epoch changed: a Redis restarted \
                     without persistence?); this process keeps routing what it had, and \
                     applies the changes written from now on. Expose the ports again to \
                     store them."
                );
            }
            self.at = Some(now);
            return;
        }
        match registry.reload() {
            Ok(revision) => self.at = Some(revision),
            Err(e) => tracing::warn!(error = %e, "could not read the shared store; will try again"),
        }
    }
}

/// A stored sandbox as the index keeps it.
fn sandbox_entry(record: SandboxRecord) -> (Arc<str>, SandboxEntry) {
    let ports = record
        .exposures
        .into_iter()
        .map(|e| {
            let entry = PortEntry {
                token: e.token,
                name: e.name,
                created_at_ms: e.created_at_ms,
            };
            (e.port, entry)
        })
        .collect();
    let id: Arc<str> = record.id.into();
    let upstream_host: Arc<str> = record.upstream_host.into();
    let entry = SandboxEntry {
        target: RouteTarget::new(&id, &upstream_host),
        upstream_host,
        status: record.status,
        ports,
    };
    (id, entry)
}

fn entry<'a>(
    index: &'a mut HashMap<Arc<str>, SandboxEntry>,
    id: &str,
    upstream_host: &str,
    status: SandboxStatus,
) -> &'a mut SandboxEntry {
    if !index.contains_key(id) {
        let id: Arc<str> = id.into();
        let host: Arc<str> = upstream_host.into();
        let sb = SandboxEntry {
            target: RouteTarget::new(&id, &host),
            upstream_host: host,
            status,
            ports: BTreeMap::new(),
        };
        index.insert(id, sb);
    }
    let sb = index
        .get_mut(id)
        .expect("the sandbox entry was just made if it did not exist");
    if *sb.upstream_host != *upstream_host {
        sb.upstream_host = upstream_host.into();
        let target = RouteTarget::new(&sb.target.sandbox_id, &sb.upstream_host);
        sb.target = target;
    }
    sb.status = status;
    sb
}

fn info(id: &str, s: &SandboxEntry) -> SandboxInfo {
    SandboxInfo {
        id: id.to_owned(),
        upstream_host: s.upstream_host.to_string(),
        status: s.status,
        exposed_ports: s.ports.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_slots_stay_small() {
        assert!(std::mem::size_of::<RouteSlot>() <= 40);
    }

    #[test]
    fn the_route_table_keys_by_port_and_id() {
        let mut t = RouteTable::default();
        let target = |id: &str| {
            Arc::new(RouteTarget {
                sandbox_id: id.into(),
                host: "127.0.0.1".into(),
            })
        };
        let (a, b) = (target("box"), target("box-2"));
        let lifecycle = Lifecycle::default();
        let counters = |t: &Arc<RouteTarget>, port| lifecycle.port(&t.sandbox_id, port);
        t.insert(&a, 8080, "tok1", SandboxStatus::Running, counters(&a, 8080));
        t.insert(&b, 8080, "tok2", SandboxStatus::Stopped, counters(&b, 8080));
        t.insert(&a, 8081, "tok3", SandboxStatus::Running, counters(&a, 8081));
        assert_eq!(t.get("box", 8080).unwrap().token, padded(b"tok1"));
        assert_eq!(t.get("box-2", 8080).unwrap().status, SandboxStatus::Stopped);
        assert!(t.get("box", 8082).is_none() && t.get("box-3", 8080).is_none());
        t.insert(&a, 8080, "tok4", SandboxStatus::Stopped, counters(&a, 8080));
        assert_eq!(t.slots.len(), 3);
        assert_eq!(t.get("box", 8080).unwrap().token, padded(b"tok4"));
        t.remove("box", 8080);
        t.remove("box", 8080);
        assert!(t.get("box", 8080).is_none());
        assert_eq!(t.get("box", 8081).unwrap().token, padded(b"tok3"));
        assert_eq!(t.slots.len(), 2);
    }
}

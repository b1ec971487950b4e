//! The registry: every sandbox and exposed port, in memory for the gateway's lookups, written
//! through to a [`Store`] before any change is acknowledged.
//!
//! Writers are serialised by the store's lock and apply a change to the in-memory index only
//! after the store has made it durable, so a failed write changes nothing. Readers (the
//! gateway) take a read lock on the index alone.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use crate::error::{Error, Result};
use crate::hostname::Hostname;
use crate::preview_url::preview_url;
use crate::rules::Rules;
use crate::store::now_ms;
use crate::store::{Change, ExposureRecord, SandboxStatus, Store};
use subtle::ConstantTimeEq;

use crate::token::{generate_token, tokens_equal};

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

/// Where a preview request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The sandbox id.
    pub sandbox_id: Arc<str>,
    /// The host the sandbox's services listen on.
    pub host: Arc<str>,
    /// The port.
    pub port: u16,
}

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
    routes: HashMap<RouteKey, RouteEntry, RouteHasher>,
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
    /// Makes the route of `port` match the sandbox's entry (or removes it).
    fn sync_route(&mut self, id: &str, port: u16) {
        let key = RouteKey::new(port, id);
        let Some((id, sb)) = self.sandboxes.get_key_value(id) else {
            self.routes.remove(key.as_bytes());
            return;
        };
        match sb.ports.get(&port) {
            Some(e) => {
                let route = RouteEntry::new(id, sb, port, &e.token);
                self.routes.insert(key, route);
            }
            None => {
                self.routes.remove(key.as_bytes());
            }
        }
    }

    /// Makes every route of a sandbox match its entry (status or upstream changed).
    fn sync_sandbox(&mut self, id: &str) {
        let ports: Vec<u16> = self
            .sandboxes
            .get(id)
            .map(|s| s.ports.keys().copied().collect())
            .unwrap_or_default();
        for port in ports {
            self.sync_route(id, port);
        }
    }
}

/// The longest `{port}-{sandbox_id}`: five digits, a hyphen, 63 characters.
const ROUTE_KEY_MAX: usize = 5 + 1 + crate::sandbox_id::MAX_SANDBOX_ID_LENGTH;

/// `{port}-{sandbox_id}`, the first label of a preview host without its token, stored inline
/// so that a lookup reads no other memory than the table's.
#[derive(Clone, Copy)]
struct RouteKey {
    len: u8,
    bytes: [u8; ROUTE_KEY_MAX],
}

impl RouteKey {
    fn new(port: u16, id: &str) -> RouteKey {
        let mut key = RouteKey {
            len: 0,
            bytes: [0; ROUTE_KEY_MAX],
        };
        let mut digits = [0u8; 5];
        let mut n = port;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &b in digits[i..].iter().chain(b"-").chain(id.as_bytes()) {
            if usize::from(key.len) < ROUTE_KEY_MAX {
                key.bytes[usize::from(key.len)] = b;
                key.len += 1;
            }
        }
        key
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for RouteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

impl PartialEq for RouteKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for RouteKey {}

impl Hash for RouteKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

// Borrowed as bytes, not str: a lookup validates no UTF-8.
impl Borrow<[u8]> for RouteKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// What the gateway needs of one exposed port, with the token inline.
#[derive(Debug)]
struct RouteEntry {
    token: [u8; crate::rules::MAX_TOKEN_LENGTH],
    token_len: u8,
    status: SandboxStatus,
    port: u16,
    sandbox_id: Arc<str>,
    host: Arc<str>,
}

impl RouteEntry {
    fn new(id: &Arc<str>, sb: &SandboxEntry, port: u16, token: &str) -> RouteEntry {
        let mut bytes = [0u8; crate::rules::MAX_TOKEN_LENGTH];
        let len = token.len().min(bytes.len());
        bytes[..len].copy_from_slice(&token.as_bytes()[..len]);
        RouteEntry {
            token: bytes,
            token_len: len as u8,
            status: sb.status,
            port,
            sandbox_id: id.clone(),
            host: sb.upstream_host.clone(),
        }
    }

    fn token(&self) -> &[u8] {
        &self.token[..usize::from(self.token_len)]
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
}

impl Registry {
    /// Loads everything the store holds.
    pub fn open(rules: Rules, mut store: Box<dyn Store>) -> Result<Registry> {
        let mut index = Index::default();
        for sb in store.load()? {
            let ports = sb
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
            let id: Arc<str> = sb.id.into();
            index.insert(
                id.clone(),
                SandboxEntry {
                    upstream_host: sb.upstream_host.into(),
                    status: sb.status,
                    ports,
                },
            );
            index.sync_sandbox(&id);
        }
        Ok(Registry {
            rules,
            store: Mutex::new(store),
            index: RwLock::new(index),
        })
    }

    fn writer(&self) -> MutexGuard<'_, Box<dyn Store>> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut Index)) {
        f(&mut self.index.write().unwrap_or_else(PoisonError::into_inner))
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
        let mut store = self.writer();
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
            let url = preview_url(port, id, &token, host)?;
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
        store.apply(Change::PutExposure {
            sandbox_id: id,
            upstream_host,
            status,
            exposure: &record,
        })?;
        let name = record.name.clone();
        self.update(|index| {
            let sb = entry(index, id, upstream_host, status);
            let entry = PortEntry {
                token: record.token,
                name: record.name,
                created_at_ms: record.created_at_ms,
            };
            sb.ports.insert(port, entry);
            index.sync_route(id, port);
        });
        Ok((url, name))
    }

    /// Unexposes a port; nothing happens if it is not exposed.
    pub fn unexpose(&self, id: &str, port: u16) -> Result<()> {
        let mut store = self.writer();
        if !self
            .read()
            .get(id)
            .is_some_and(|s| s.ports.contains_key(&port))
        {
            return Ok(());
        }
        store.apply(Change::DeleteExposure {
            sandbox_id: id,
            port,
        })?;
        self.update(|index| {
            if let Some(sb) = index.get_mut(id) {
                sb.ports.remove(&port);
            }
            index.sync_route(id, port);
        });
        Ok(())
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
        let mut store = self.writer();
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
        store.apply(Change::PutSandbox {
            id,
            upstream_host: &upstream,
            status,
        })?;
        let mut exposed_ports = 0;
        self.update(|index| {
            let sb = entry(index, id, &upstream, status);
            exposed_ports = sb.ports.len();
            index.sync_sandbox(id);
        });
        Ok(SandboxInfo {
            id: id.into(),
            upstream_host: upstream.to_string(),
            status,
            exposed_ports,
        })
    }

    /// Forgets a sandbox and every token it had; nothing happens if it is unknown.
    pub fn destroy(&self, id: &str) -> Result<bool> {
        let mut store = self.writer();
        if !self.read().contains_key(id) {
            return Ok(false);
        }
        store.apply(Change::DeleteSandbox { id })?;
        self.update(|index| {
            let ports: Vec<u16> = index
                .get(id)
                .map(|s| s.ports.keys().copied().collect())
                .unwrap_or_default();
            index.remove(id);
            for port in ports {
                index.sync_route(id, port);
            }
        });
        Ok(true)
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

    /// The gateway's lookup: the host split into its parts, one read lock, one lookup in the
    /// flat route table keyed by `{port}-{sandbox_id}` (a slice of the host itself), a
    /// constant-time token compare. The port and id rules are checked only when the route is
    /// not exposed (an exposed one passed them), to tell a host that is no preview host from
    /// one that names no exposed port.
    pub fn resolve(&self, host: &str) -> Resolution {
        self.rules
            .with_route_shape(host, true, |route| {
                let index = self.read();
                match index.routes.get(route.port_and_id.as_bytes()) {
                    Some(e) if bool::from(e.token().ct_eq(route.token.as_bytes())) => {
                        match e.status {
                            SandboxStatus::Stopped => Resolution::Stale {
                                sandbox_id: route.sandbox_id.to_owned(),
                                port: route.port,
                            },
                            SandboxStatus::Running => Resolution::Upstream(Upstream {
                                sandbox_id: e.sandbox_id.clone(),
                                host: e.host.clone(),
                                port: e.port,
                            }),
                        }
                    }
                    Some(_) => Resolution::Denied,
                    None if self.rules.route_is_valid(&route) => Resolution::Denied,
                    None => Resolution::NotPreview,
                }
            })
            .unwrap_or(Resolution::NotPreview)
    }
}

fn entry<'a>(
    index: &'a mut HashMap<Arc<str>, SandboxEntry>,
    id: &str,
    upstream_host: &str,
    status: SandboxStatus,
) -> &'a mut SandboxEntry {
    let sb = index.entry(Arc::from(id)).or_insert_with(|| SandboxEntry {
        upstream_host: upstream_host.into(),
        status,
        ports: BTreeMap::new(),
    });
    if *sb.upstream_host != *upstream_host {
        sb.upstream_host = upstream_host.into();
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
    fn route_keys_are_the_label_without_its_token() {
        assert_eq!(RouteKey::new(8080, "box").as_bytes(), b"8080-box");
        assert_eq!(RouteKey::new(65535, "a-b").as_bytes(), b"65535-a-b");
        let id = "x".repeat(63);
        assert_eq!(
            RouteKey::new(10000, &id).as_bytes(),
            format!("10000-{id}").as_bytes()
        );
        let h = RouteHasher::default();
        let bytes: &[u8] = b"8080-box";
        assert_eq!(h.hash_one(bytes), h.hash_one(RouteKey::new(8080, "box")));
        assert_ne!(h.hash_one(bytes), h.hash_one(RouteKey::new(8081, "box")));
    }
}

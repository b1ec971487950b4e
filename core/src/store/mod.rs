//! Where exposures live: in memory, in an SQLite file that survives restarts, or in Redis,
//! shared by every process that uses it.
//!
//! The registry keeps every exposure in memory for the gateway's lookups and writes each
//! change through a [`Store`] before it answers, so a file store holds everything that was
//! ever acknowledged. A shared store ([`Store::shared`]) is written by other processes too:
//! the registry reads a sandbox fresh from it before each write and retries when another
//! process wrote it first ([`Store::read_for_write`], [`Store::try_apply`]), and follows the
//! changes others make through its [`ChangeFeed`].

mod memory;
mod redis;
mod sqlite;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use memory::MemoryStore;
pub use redis::RedisStore;
pub use sqlite::{SCHEMA_VERSION, SqliteStore};

use crate::error::Result;

/// Whether a sandbox is running (its URLs are served) or stopped (its URLs give 410).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SandboxStatus {
    /// URLs are served.
    #[default]
    Running,
    /// URLs give 410 `STALE_PREVIEW_URL` until the sandbox runs again.
    Stopped,
}

impl SandboxStatus {
    /// `"running"` or `"stopped"`.
    ///
    /// ```
    /// assert_eq!(portway::SandboxStatus::Stopped.as_str(), "stopped");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxStatus::Running => "running",
            SandboxStatus::Stopped => "stopped",
        }
    }

    /// The status for `"running"` or `"stopped"`.
    ///
    /// ```
    /// assert_eq!(portway::SandboxStatus::parse("running"), Some(portway::SandboxStatus::Running));
    /// assert_eq!(portway::SandboxStatus::parse("paused"), None);
    /// ```
    pub fn parse(s: &str) -> Option<SandboxStatus> {
        match s {
            "running" => Some(SandboxStatus::Running),
            "stopped" => Some(SandboxStatus::Stopped),
            _ => None,
        }
    }
}

impl fmt::Display for SandboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sandbox as stored: its id, where its services listen, and whether it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRecord {
    /// The sandbox id.
    pub id: String,
    /// The host its services listen on (an IP address or a host name).
    pub upstream_host: String,
    /// Running or stopped.
    pub status: SandboxStatus,
    /// Its exposed ports, sorted by port.
    pub exposures: Vec<ExposureRecord>,
}

/// One exposed port as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposureRecord {
    /// The port.
    pub port: u16,
    /// The token in its preview URL.
    pub token: String,
    /// The optional name given when exposing.
    pub name: Option<String>,
    /// When it was first exposed, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

/// One change to the stored state, applied atomically by [`Store::apply`].
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Create or update a sandbox (its exposures are untouched).
    PutSandbox {
        /// The sandbox id.
        id: &'a str,
        /// Its upstream host.
        upstream_host: &'a str,
        /// Its status.
        status: SandboxStatus,
    },
    /// Delete a sandbox and all its exposures.
    DeleteSandbox {
        /// The sandbox id.
        id: &'a str,
    },
    /// Create or update an exposure, creating or updating its sandbox in the same step.
    PutExposure {
        /// The sandbox id.
        sandbox_id: &'a str,
        /// The sandbox's upstream host.
        upstream_host: &'a str,
        /// The sandbox's status.
        status: SandboxStatus,
        /// The exposure.
        exposure: &'a ExposureRecord,
    },
    /// Delete one exposure (nothing happens if it does not exist).
    DeleteExposure {
        /// The sandbox id.
        sandbox_id: &'a str,
        /// The port.
        port: u16,
    },
}

/// Persistence behind the registry. Implementations must make a change durable before
/// [`Store::apply`] returns `Ok`, and must leave the stored state unchanged when it returns
/// an error.
///
/// ```
/// use portway::store::{Change, MemoryStore, SandboxStatus, Store};
/// let mut store = MemoryStore::default();
/// store.apply(Change::PutSandbox { id: "box", upstream_host: "127.0.0.1", status: SandboxStatus::Running })?;
/// assert_eq!(store.load()?[0].id, "box");
/// # Ok::<(), portway::Error>(())
/// ```
pub trait Store: Send + fmt::Debug {
    /// Every sandbox with its exposures, sorted by id.
    fn load(&mut self) -> Result<Vec<SandboxRecord>>;
    /// Applies one change atomically and durably.
    fn apply(&mut self, change: Change<'_>) -> Result<()>;

    /// Whether other processes write this store too, so that what this process holds in
    /// memory may be behind it (default `false`). A shared store implements the methods
    /// below.
    fn shared(&self) -> bool {
        false
    }

    /// A shared store: sandbox `id` as stored now, read so that the next
    /// [`Store::try_apply`] fails if another process writes that sandbox first (Redis's
    /// `WATCH`). Not shared: `Ok(None)`, whatever is stored.
    fn read_for_write(&mut self, id: &str) -> Result<Option<SandboxRecord>> {
        let _ = id;
        Ok(None)
    }

    /// Applies `change` like [`Store::apply`], unless another process wrote the sandbox
    /// since [`Store::read_for_write`] read it: then nothing is written and the answer is
    /// `Ok(false)`, for the caller to read again and retry.
    fn try_apply(&mut self, change: Change<'_>) -> Result<bool> {
        self.apply(change).map(|()| true)
    }

    /// A shared store: sandbox `id` as stored now (`None` if it is not). Not shared:
    /// `Ok(None)`.
    fn read(&mut self, id: &str) -> Result<Option<SandboxRecord>> {
        let _ = id;
        Ok(None)
    }

    /// A shared store: the store's identity and the number of the last change written to
    /// it. The identity changes when the store lost everything (a Redis restarted without
    /// its data); the number grows by one with every change. Not shared: `("", 0)`.
    fn revision(&mut self) -> Result<Revision> {
        Ok(Revision::default())
    }

    /// A shared store: the feed of the changes every process writes, from now on. `None`
    /// for a store only this process writes.
    fn feed(&mut self) -> Option<Box<dyn ChangeFeed>> {
        None
    }
}

/// Where a shared store is in its history: see [`Store::revision`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revision {
    /// The store's identity, made when it was first written.
    pub epoch: String,
    /// The number of the last change.
    pub number: u64,
}

/// The changes written to a shared store, as they come ([`Store::feed`]).
pub trait ChangeFeed: Send {
    /// The next event, waiting at most `wait` for one ([`FeedEvent::Quiet`] if none came).
    fn next(&mut self, wait: Duration) -> FeedEvent;
}

/// One event of a [`ChangeFeed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// Change number `revision` was written, to sandbox `sandbox`.
    Changed {
        /// Its number ([`Revision::number`]).
        revision: u64,
        /// The sandbox it changed.
        sandbox: String,
    },
    /// Nothing came in the time given.
    Quiet,
    /// The feed is connected (again): changes written while it was not may have been
    /// missed.
    Connected,
    /// The feed lost its connection and is reconnecting; the reason.
    Down(String),
}

/// What `change` makes of the stored sandbox it is about (`record`, `None` if there is
/// none): the new record, or `None` when the sandbox is gone. One rule for every store
/// that keeps whole sandbox records.
pub(crate) fn changed_record(
    record: Option<SandboxRecord>,
    change: Change<'_>,
) -> Option<SandboxRecord> {
    let blank = |id: &str| SandboxRecord {
        id: id.to_owned(),
        upstream_host: String::new(),
        status: SandboxStatus::default(),
        exposures: Vec::new(),
    };
    match change {
        Change::PutSandbox {
            id,
            upstream_host,
            status,
        } => {
            let mut sb = record.unwrap_or_else(|| blank(id));
            sb.upstream_host = upstream_host.into();
            sb.status = status;
            Some(sb)
        }
        Change::DeleteSandbox { .. } => None,
        Change::PutExposure {
            sandbox_id,
            upstream_host,
            status,
            exposure,
        } => {
            let mut sb = record.unwrap_or_else(|| blank(sandbox_id));
            sb.upstream_host = upstream_host.into();
            sb.status = status;
            match sb
                .exposures
                .binary_search_by_key(&exposure.port, |e| e.port)
            {
                Ok(i) => sb.exposures[i] = exposure.clone(),
                Err(i) => sb.exposures.insert(i, exposure.clone()),
            }
            Some(sb)
        }
        Change::DeleteExposure { port, .. } => record.map(|mut sb| {
            sb.exposures.retain(|e| e.port != port);
            sb
        }),
    }
}

impl Change<'_> {
    /// The sandbox the change is about.
    pub fn sandbox_id(&self) -> &str {
        match *self {
            Change::PutSandbox { id, .. } | Change::DeleteSandbox { id } => id,
            Change::PutExposure { sandbox_id, .. } | Change::DeleteExposure { sandbox_id, .. } => {
                sandbox_id
            }
        }
    }
}

/// Which store a `Portway` uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreConfig {
    /// In memory: gone when the process ends.
    #[default]
    Memory,
    /// An SQLite file, created if missing.
    File(PathBuf),
    /// A Redis (or Valkey) server every process using it shares: a `redis://` or
    /// `rediss://` (TLS) URL, with user name, password and database number as Redis URLs
    /// have them, and `?prefix=` for the keys (default `portway:`).
    Redis(String),
}

impl StoreConfig {
    /// `":memory:"` (or an empty string) for memory, a `redis://` or `rediss://` URL for
    /// Redis, anything else is a file path.
    ///
    /// ```
    /// use portway::StoreConfig;
    /// assert_eq!(StoreConfig::parse(":memory:"), StoreConfig::Memory);
    /// assert_eq!(StoreConfig::parse("./portway.db"), StoreConfig::File("./portway.db".into()));
    /// assert!(matches!(StoreConfig::parse("redis://127.0.0.1:6379/0"), StoreConfig::Redis(_)));
    /// ```
    pub fn parse(s: &str) -> StoreConfig {
        match s {
            "" | ":memory:" => StoreConfig::Memory,
            url if redis::is_redis_url(url) => StoreConfig::Redis(url.into()),
            path => StoreConfig::File(path.into()),
        }
    }

    /// Opens the store.
    pub fn open(&self) -> Result<Box<dyn Store>> {
        Ok(match self {
            StoreConfig::Memory => Box::new(MemoryStore::default()),
            StoreConfig::File(path) => Box::new(SqliteStore::open(path)?),
            StoreConfig::Redis(url) => Box::new(RedisStore::open(url)?),
        })
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

//! Where exposures live: in memory, or in an SQLite file that survives restarts.
//!
//! The registry keeps every exposure in memory for the gateway's lookups and writes each
//! change through a [`Store`] before it answers, so a file store holds everything that was
//! ever acknowledged.

mod memory;
mod sqlite;

use std::fmt;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

pub use memory::MemoryStore;
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
}

/// Which store a `Portway` uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreConfig {
    /// In memory: gone when the process ends.
    #[default]
    Memory,
    /// An SQLite file, created if missing.
    File(PathBuf),
}

impl StoreConfig {
    /// `":memory:"` (or an empty string) for memory, anything else is a file path.
    ///
    /// ```
    /// use portway::StoreConfig;
    /// assert_eq!(StoreConfig::parse(":memory:"), StoreConfig::Memory);
    /// assert_eq!(StoreConfig::parse("./portway.db"), StoreConfig::File("./portway.db".into()));
    /// ```
    pub fn parse(s: &str) -> StoreConfig {
        match s {
            "" | ":memory:" => StoreConfig::Memory,
            path => StoreConfig::File(path.into()),
        }
    }

    /// Opens the store.
    pub fn open(&self) -> Result<Box<dyn Store>> {
        Ok(match self {
            StoreConfig::Memory => Box::new(MemoryStore::default()),
            StoreConfig::File(path) => Box::new(SqliteStore::open(path)?),
        })
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

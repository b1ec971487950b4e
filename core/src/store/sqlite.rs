//! The file store: an SQLite database (bundled SQLite) in WAL mode with `synchronous=FULL`,
//! so a change is on disk before [`Store::apply`] returns.
//!
//! The file carries an application id (`PWAY`) and a schema version (`user_version`), and is
//! migrated forward in transactions. A file from a newer Portway, a file that is not a Portway
//! store, a corrupt file and a read-only file are refused with `STORE_ERROR`; none is ever
//! written to. One process holds a store file at a time: the connection keeps SQLite's
//! exclusive lock, so a second process gets a clear `STORE_ERROR` instead of a stale view.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode as SqliteCode, OpenFlags, TransactionBehavior, params};

use super::{Change, ExposureRecord, SandboxRecord, SandboxStatus, Store, now_ms};
use crate::error::{Error, Result};

/// The schema version this build writes (and the newest it reads).
pub const SCHEMA_VERSION: i64 = 2;

/// `PRAGMA application_id` of a Portway store: "PWAY".
const APPLICATION_ID: i64 = 0x5057_4159;

/// Migration `i` takes a file from schema version `i` to `i + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    // 1: sandboxes and their exposures.
    "CREATE TABLE sandboxes (
         id            TEXT PRIMARY KEY NOT NULL,
         upstream_host TEXT NOT NULL,
         status        TEXT NOT NULL CHECK (status IN ('running', 'stopped')),
         updated_at_ms INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE exposures (
         sandbox_id    TEXT NOT NULL REFERENCES sandboxes(id) ON DELETE CASCADE,
         port          INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
         token         TEXT NOT NULL,
         name          TEXT,
         created_at_ms INTEGER NOT NULL,
         PRIMARY KEY (sandbox_id, port)
     ) WITHOUT ROWID;",
    // 2: a token is unique within its sandbox, enforced by the file as well as the registry.
    "CREATE UNIQUE INDEX exposures_token ON exposures (sandbox_id, token);",
];

/// An SQLite file store.
///
/// ```
/// use portway::store::{Change, SandboxStatus, SqliteStore, Store};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("portway.db");
/// {
///     let mut store = SqliteStore::open(&path)?;
///     store.apply(Change::PutSandbox { id: "box", upstream_host: "10.0.0.7", status: SandboxStatus::Running })?;
/// }
/// let mut again = SqliteStore::open(&path)?;
/// assert_eq!(again.load()?[0].upstream_host, "10.0.0.7");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates a store file.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)
            .map_err(|e| fail(&path, "cannot be opened", e))?;
        let mut store = SqliteStore { conn, path };
        store.prepare()?;
        Ok(store)
    }

    /// The path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn prepare(&mut self) -> Result<()> {
        let path = self.path.clone();
        let path = path.as_path();
        let e = |what: &'static str| move |err| fail(path, what, err);
        if self
            .conn
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(e("cannot be opened"))?
        {
            return Err(Error::Store(format!(
                "store file {} is read-only: Portway must write every exposure to it. Make it \
                 writable or use another path.",
                self.path.display()
            )));
        }
        self.conn
            .busy_timeout(Duration::from_millis(200))
            .map_err(e("cannot be opened"))?;
        self.conn
            .pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(e("cannot be locked"))?;
        let app_id: i64 = self
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(e("cannot be read"))?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(e("cannot be read"))?;
        if app_id != APPLICATION_ID && app_id != 0 {
            return Err(self.not_ours(format!("its application id is {app_id:#x}")));
        }
        if app_id == 0 {
            let tables: i64 = self
                .conn
                .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
                .map_err(e("cannot be read"))?;
            if tables > 0 || version != 0 {
                return Err(
                    self.not_ours(format!("it already holds {tables} other schema objects"))
                );
            }
        }
        if version > SCHEMA_VERSION {
            return Err(Error::Store(format!(
                "store file {} was written by a newer Portway (schema version {version}; this \
                 build reads up to {SCHEMA_VERSION}). Upgrade Portway to use it; the file was \
                 left untouched.",
                self.path.display()
            )));
        }
        // Everything above and this check only read: a refused file is never written to.
        let check: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(e("is corrupt"))?;
        if check != "ok" {
            return Err(Error::Store(format!(
                "store file {} is corrupt ({check}); it was left untouched",
                self.path.display()
            )));
        }
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(e("cannot be set to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Store(format!(
                "store file {} cannot use WAL mode (it stayed in {mode} mode)",
                self.path.display()
            )));
        }
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(e("cannot be configured"))?;
        self.conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(e("cannot be configured"))?;
        // Migrate, or take the write lock at once so a second process fails now, not later.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|err| fail(&self.path, "cannot be locked", err))?;
        for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql)
                .map_err(|err| fail(&self.path, "cannot be migrated", err))?;
            tx.pragma_update(None, "user_version", from as i64 + 1)
                .map_err(|err| fail(&self.path, "cannot be migrated", err))?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(|err| fail(&self.path, "cannot be migrated", err))?;
        tx.commit()
            .map_err(|err| fail(&self.path, "cannot be migrated", err))
    }

    fn not_ours(&self, why: String) -> Error {
        Error::Store(format!(
            "store file {} is not a Portway store ({why}); it was left untouched. Use a new path.",
            self.path.display()
        ))
    }

    fn write(&mut self, change: Change<'_>) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now_ms();
        match change {
            Change::PutSandbox {
                id,
                upstream_host,
                status,
            } => {
                put_sandbox(&tx, id, upstream_host, status, now)?;
            }
            Change::DeleteSandbox { id } => {
                tx.execute("DELETE FROM exposures WHERE sandbox_id = ?1", [id])?;
                tx.execute("DELETE FROM sandboxes WHERE id = ?1", [id])?;
            }
            Change::PutExposure {
                sandbox_id,
                upstream_host,
                status,
                exposure,
            } => {
                put_sandbox(&tx, sandbox_id, upstream_host, status, now)?;
                tx.execute(
                    "INSERT INTO exposures (sandbox_id, port, token, name, created_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (sandbox_id, port) DO UPDATE
                     SET token = excluded.token, name = excluded.name",
                    params![
                        sandbox_id,
                        exposure.port,
                        exposure.token,
                        exposure.name,
                        exposure.created_at_ms
                    ],
                )?;
            }
            Change::DeleteExposure { sandbox_id, port } => {
                tx.execute(
                    "DELETE FROM exposures WHERE sandbox_id = ?1 AND port = ?2",
                    params![sandbox_id, port],
                )?;
            }
        }
        tx.commit()
    }

    fn read_all(&mut self) -> Result<Vec<SandboxRecord>> {
        let path = self.path.clone();
        let path = path.as_path();
        let e = |err| fail(path, "cannot be read", err);
        let mut sandboxes: Vec<SandboxRecord> = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT id, upstream_host, status FROM sandboxes ORDER BY id")
            .map_err(e)?;
        let mut rows = stmt.query([]).map_err(e)?;
        while let Some(row) = rows.next().map_err(e)? {
            let status: String = row.get(2).map_err(e)?;
            let id: String = row.get(0).map_err(e)?;
            let status = SandboxStatus::parse(&status).ok_or_else(|| {
                Error::Store(format!(
                    "store file {} has an unknown status '{status}' for sandbox '{id}'",
                    path.display()
                ))
            })?;
            sandboxes.push(SandboxRecord {
                id,
                upstream_host: row.get(1).map_err(e)?,
                status,
                exposures: Vec::new(),
            });
        }
        drop(rows);
        drop(stmt);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT sandbox_id, port, token, name, created_at_ms FROM exposures
                 ORDER BY sandbox_id, port",
            )
            .map_err(e)?;
        let mut rows = stmt.query([]).map_err(e)?;
        let mut i = 0;
        while let Some(row) = rows.next().map_err(e)? {
            let sandbox_id: String = row.get(0).map_err(e)?;
            while i < sandboxes.len() && sandboxes[i].id < sandbox_id {
                i += 1;
            }
            let Some(sb) = sandboxes.get_mut(i).filter(|s| s.id == sandbox_id) else {
                return Err(Error::Store(format!(
                    "store file {} has exposures of an unknown sandbox '{sandbox_id}'",
                    path.display()
                )));
            };
            sb.exposures.push(ExposureRecord {
                port: row.get(1).map_err(e)?,
                token: row.get(2).map_err(e)?,
                name: row.get(3).map_err(e)?,
                created_at_ms: row.get(4).map_err(e)?,
            });
        }
        Ok(sandboxes)
    }
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Vec<SandboxRecord>> {
        self.read_all()
    }

    fn apply(&mut self, change: Change<'_>) -> Result<()> {
        let path = self.path.clone();
        self.write(change)
            .map_err(|e| fail(&path, "cannot be written", e))
    }
}

fn put_sandbox(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    upstream_host: &str,
    status: SandboxStatus,
    now: i64,
) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO sandboxes (id, upstream_host, status, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET upstream_host = excluded.upstream_host,
             status = excluded.status, updated_at_ms = excluded.updated_at_ms",
        params![id, upstream_host, status.as_str(), now],
    )
}

/// Turns an SQLite error into a `STORE_ERROR` that says what it means for the user.
fn fail(path: &Path, what: &str, err: rusqlite::Error) -> Error {
    let path = path.display();
    let hint = match err.sqlite_error_code() {
        Some(SqliteCode::DatabaseBusy | SqliteCode::DatabaseLocked) => {
            " because another process holds it (only one process may use a store file at a \
             time; is another portway running with it?)"
        }
        Some(SqliteCode::NotADatabase) => {
            " because it is not an SQLite database (or is corrupt); it was left untouched"
        }
        Some(SqliteCode::DatabaseCorrupt) => " because it is corrupt; it was left untouched",
        Some(SqliteCode::ReadOnly) => " because it is read-only",
        Some(SqliteCode::DiskFull) => {
            " because the disk is full; the change was not stored and nothing stored was lost"
        }
        Some(SqliteCode::CannotOpen) => " (check that its directory exists and is writable)",
        Some(SqliteCode::PermissionDenied) => " because permission was denied",
        _ => "",
    };
    Error::Store(format!("store file {path} {what}{hint}: {err}"))
}

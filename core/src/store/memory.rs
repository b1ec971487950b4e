//! The in-memory store: the same contract as the file store, gone with the process.

use std::collections::BTreeMap;

use super::{Change, SandboxRecord, Store};
use crate::error::Result;

/// Keeps sandboxes and exposures in memory.
///
/// ```
/// use portway::store::{MemoryStore, Store};
/// assert!(MemoryStore::default().load()?.is_empty());
/// # Ok::<(), portway::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    sandboxes: BTreeMap<String, SandboxRecord>,
}

impl Store for MemoryStore {
    fn load(&mut self) -> Result<Vec<SandboxRecord>> {
        Ok(self.sandboxes.values().cloned().collect())
    }

    fn apply(&mut self, change: Change<'_>) -> Result<()> {
        match change {
            Change::PutSandbox {
                id,
                upstream_host,
                status,
            } => {
                let sb = self.sandbox(id);
                sb.upstream_host = upstream_host.into();
                sb.status = status;
            }
            Change::DeleteSandbox { id } => {
                self.sandboxes.remove(id);
            }
            Change::PutExposure {
                sandbox_id,
                upstream_host,
                status,
                exposure,
            } => {
                let sb = self.sandbox(sandbox_id);
                sb.upstream_host = upstream_host.into();
                sb.status = status;
                match sb
                    .exposures
                    .binary_search_by_key(&exposure.port, |e| e.port)
                {
                    Ok(i) => sb.exposures[i] = exposure.clone(),
                    Err(i) => sb.exposures.insert(i, exposure.clone()),
                }
            }
            Change::DeleteExposure { sandbox_id, port } => {
                if let Some(sb) = self.sandboxes.get_mut(sandbox_id) {
                    sb.exposures.retain(|e| e.port != port);
                }
            }
        }
        Ok(())
    }
}

impl MemoryStore {
    fn sandbox(&mut self, id: &str) -> &mut SandboxRecord {
        self.sandboxes
            .entry(id.to_owned())
            .or_insert_with(|| SandboxRecord {
                id: id.to_owned(),
                upstream_host: String::new(),
                status: Default::default(),
                exposures: Vec::new(),
            })
    }
}

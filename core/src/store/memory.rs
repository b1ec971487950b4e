//! The in-memory store: the same contract as the file store, gone with the process.

use std::collections::BTreeMap;

use super::{Change, SandboxRecord, Store, changed_record};
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
        let id = change.sandbox_id();
        let record = self.sandboxes.remove(id);
        if let Some(sb) = changed_record(record, change) {
            self.sandboxes.insert(sb.id.clone(), sb);
        }
        Ok(())
    }
}

//! The one multi-thread tokio runtime that the bindings run their async calls on: built on
//! first use and kept for the life of the process, so every host (Python, Swift) shares the
//! same gateway, WebSocket and store tasks.

use std::sync::OnceLock;

use tokio::runtime::Runtime;

use crate::error::{Error, Result};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The process-wide runtime; `GATEWAY_ERROR` if the OS refuses its threads.
///
/// ```
/// let rt = portway::shared_runtime()?;
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// # Ok::<(), portway::Error>(())
/// ```
pub fn shared_runtime() -> Result<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("portway")
        .build()
        .map_err(|e| Error::Gateway(format!("cannot start the Portway runtime: {e}")))?;
    // Another thread may have won the race: its runtime is kept, this one is dropped.
    Ok(RUNTIME.get_or_init(|| rt))
}

//! Holding the Node event loop open while a gateway listens, the way an `http.Server` does:
//! `ref()` / `unref()` and the end that `close()` puts to it. A pending napi future keeps the
//! loop alive; releasing it (or dropping the holder) lets the process exit.

use napi::Env;
use napi::bindgen_prelude::Result;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Whether the event loop is held: held, released (`unref()`), or finished (closed: never
/// held again).
#[derive(Default)]
pub(crate) struct KeepAlive {
    /// While set, a pending napi future holds the event loop open; dropping it lets go.
    guard: Option<DropGuard>,
    finished: bool,
}

impl KeepAlive {
    /// Holds the event loop open, unless already held or finished.
    pub(crate) fn hold(&mut self, env: &Env) -> Result<()> {
        if self.guard.is_none() && !self.finished {
            let released = CancellationToken::new();
            let wait = released.clone();
            env.spawn_future(async move {
                wait.cancelled().await;
                Ok(())
            })?;
            self.guard = Some(released.drop_guard());
        }
        Ok(())
    }

    /// Lets the process exit; `hold` can take the loop again.
    pub(crate) fn release(&mut self) {
        self.guard = None;
    }

    /// Lets the process exit for good: later `hold` calls do nothing.
    pub(crate) fn finish(&mut self) {
        self.guard = None;
        self.finished = true;
    }
}

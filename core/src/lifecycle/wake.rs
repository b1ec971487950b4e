//! Waking a stopped sandbox on request: the host's hook ([`WakeHook`]) and the wakes in
//! progress ([`Wakes`]), one per sandbox however many requests wait on it. The gateway's
//! wake phase (`gateway/wake.rs`) runs them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// What the wake hook is told: which sandbox to start, and the port a request is waiting
/// for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WakeRequest {
    /// The sandbox to start.
    pub sandbox_id: String,
    /// The port the first waiting request is for.
    pub port: u16,
}

/// The platform's side of a wake: start the sandbox (or have it started) and answer once
/// the start is under way; `Err` with the reason when it cannot (it becomes 503
/// `SANDBOX_WAKE_FAILED`). The gateway then waits for the port to answer and marks the
/// sandbox running itself. Called once per sandbox however many requests arrive together;
/// bounded by `wake_timeout`.
///
/// Any `Fn(WakeRequest) -> impl Future<Output = Result<(), String>>` is a hook:
///
/// ```
/// let hook = |req: portway::WakeRequest| async move {
///     println!("starting {}", req.sandbox_id);
///     Ok::<(), String>(())
/// };
/// let hooks = portway::GatewayHooks::new().wake(hook);
/// # let _ = hooks;
/// ```
pub trait WakeHook: Send + Sync + 'static {
    /// Starts the sandbox.
    fn wake(
        &self,
        request: WakeRequest,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
}

impl<F, Fut> WakeHook for F
where
    F: Fn(WakeRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    fn wake(
        &self,
        request: WakeRequest,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        Box::pin(self(request))
    }
}

/// How a wake ended, for every request that waited on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WakeOutcome {
    /// The port answers and the sandbox is marked running.
    Running,
    /// The hook failed or refused, or marking the sandbox running failed: the reason.
    Failed(String),
    /// The hook or the port took longer than `wake_timeout`.
    TimedOut,
    /// The sandbox was destroyed meanwhile.
    Destroyed,
}

/// The wakes in progress, by sandbox.
#[derive(Debug, Default)]
pub(crate) struct Wakes {
    running: Mutex<HashMap<Arc<str>, watch::Receiver<Option<WakeOutcome>>>>,
}

/// Joining a wake: the one that starts it gets the sender.
pub(crate) enum Joined {
    /// A wake was already in progress: wait on it.
    Waiting(watch::Receiver<Option<WakeOutcome>>),
    /// This caller starts it: run it, send the outcome, then [`Wakes::finish`].
    Started(watch::Sender<Option<WakeOutcome>>),
}

impl Wakes {
    /// Joins the wake of `id`, or starts it.
    pub fn join(&self, id: &Arc<str>) -> Joined {
        let mut map = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rx) = map.get(id) {
            return Joined::Waiting(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        map.insert(id.clone(), rx);
        Joined::Started(tx)
    }

    /// The wake of `id` ended: the next request for a stopped sandbox starts a new one.
    pub fn finish(&self, id: &str) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// How many wakes are in progress.
    pub fn in_progress(&self) -> usize {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

//! Lifecycle events: `idle` from the activity the gateways see, and `exposed`,
//! `unexposed`, `running`, `stopped`, `destroyed` from the registry's changes (this
//! process's writes and, with a shared store, every other process's). Delivered to any
//! number of [`EventStream`]s; a stream that falls more than [`EVENT_BUFFER`] events
//! behind loses the oldest (counted in [`EventStream::missed`]), so a slow reader never
//! holds the proxy back.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::SystemTime;

use tokio::sync::{Mutex, broadcast};
use tokio_util::sync::CancellationToken;

/// How many events a stream may fall behind before it loses the oldest.
pub const EVENT_BUFFER: usize = 4096;

/// What happened to a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// No traffic and no open request for `idle_after` (one per idle period).
    Idle,
    /// A port was exposed (a new exposure, not a re-expose).
    Exposed,
    /// A port was unexposed.
    Unexposed,
    /// The sandbox was marked running (by a wake, or by the platform).
    Running,
    /// The sandbox was marked stopped.
    Stopped,
    /// The sandbox was destroyed.
    Destroyed,
}

impl EventKind {
    /// Every kind, in the order of the docs.
    pub const ALL: [EventKind; 6] = [
        EventKind::Idle,
        EventKind::Exposed,
        EventKind::Unexposed,
        EventKind::Running,
        EventKind::Stopped,
        EventKind::Destroyed,
    ];

    /// Its name: `"idle"`, `"exposed"`, `"unexposed"`, `"running"`, `"stopped"`,
    /// `"destroyed"`, the same in every language and in the webhooks.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Idle => "idle",
            EventKind::Exposed => "exposed",
            EventKind::Unexposed => "unexposed",
            EventKind::Running => "running",
            EventKind::Stopped => "stopped",
            EventKind::Destroyed => "destroyed",
        }
    }
}

/// One lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// What happened.
    pub kind: EventKind,
    /// To which sandbox.
    pub sandbox_id: String,
    /// The port, for `exposed` and `unexposed`.
    pub port: Option<u16>,
    /// When this process saw it.
    pub at: SystemTime,
}

impl LifecycleEvent {
    pub(crate) fn new(kind: EventKind, sandbox_id: &str, port: Option<u16>) -> LifecycleEvent {
        LifecycleEvent {
            kind,
            sandbox_id: sandbox_id.to_owned(),
            port,
            at: SystemTime::now(),
        }
    }

    /// The time as RFC 3339 in UTC, with milliseconds.
    pub fn time(&self) -> String {
        humantime::format_rfc3339_millis(self.at).to_string()
    }

    /// The event as the webhooks send it:
    /// `{"event": "idle", "sandbox_id": "...", "port": null, "time": "2026-...Z"}`.
    ///
    /// ```
    /// # use portway::lifecycle::{EventKind, LifecycleEvent};
    /// let e = LifecycleEvent { kind: EventKind::Exposed, sandbox_id: "box".into(), port: Some(8080), at: std::time::UNIX_EPOCH };
    /// assert_eq!(e.to_json().to_string(), r#"{"event":"exposed","port":8080,"sandbox_id":"box","time":"1970-01-01T00:00:00.000Z"}"#);
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "event": self.kind.as_str(),
            "sandbox_id": self.sandbox_id,
            "port": self.port,
            "time": self.time(),
        })
    }
}

/// A subscription to the lifecycle events of one Portway, from the moment it was made.
/// [`EventStream::next`] waits for the next one; [`EventStream::close`] (or dropping it)
/// ends it.
#[derive(Debug)]
pub struct EventStream {
    rx: Mutex<broadcast::Receiver<LifecycleEvent>>,
    closed: CancellationToken,
    missed: AtomicU64,
}

impl EventStream {
    pub(crate) fn new(rx: broadcast::Receiver<LifecycleEvent>) -> EventStream {
        EventStream {
            rx: Mutex::new(rx),
            closed: CancellationToken::new(),
            missed: AtomicU64::new(0),
        }
    }

    /// The next event; `None` once the stream is closed (or its Portway is gone).
    pub async fn next(&self) -> Option<LifecycleEvent> {
        let mut rx = tokio::select! {
            rx = self.rx.lock() => rx,
            () = self.closed.cancelled() => return None,
        };
        loop {
            let got = tokio::select! {
                got = rx.recv() => got,
                () = self.closed.cancelled() => return None,
            };
            match got {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.missed.fetch_add(n, Relaxed);
                    tracing::warn!(missed = n, "an event stream fell behind and lost events");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Ends the stream: [`EventStream::next`] answers `None` from now on, a call waiting
    /// included. Idempotent.
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// Whether it was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// How many events this stream lost by falling more than [`EVENT_BUFFER`] behind.
    pub fn missed(&self) -> u64 {
        self.missed.load(Relaxed)
    }
}

//! Activity per sandbox and per port, kept on the hot path with relaxed atomics only: a
//! request takes one reference count (its port's counters, handed out by the route table
//! with the route), and counts itself open, then closed, on its port and its sandbox. No
//! lock, no allocation, no store write per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
#[inline]
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A time as RFC 3339 in UTC with milliseconds (the form of the records and the admin API).
pub fn rfc3339(at: Option<SystemTime>) -> Option<String> {
    at.map(|t| humantime::format_rfc3339_millis(t).to_string())
}

/// The counters of one sandbox or one port.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// The last request, response end or WebSocket traffic, in Unix milliseconds; 0: none.
    last_ms: AtomicU64,
    /// Requests in flight and WebSocket sessions.
    open: AtomicU64,
    /// WebSocket sessions.
    websockets: AtomicU64,
    /// Requests (WebSocket handshakes included) since this process knew the sandbox.
    requests: AtomicU64,
    /// Bytes from clients (request bodies, WebSocket frames from clients).
    bytes_in: AtomicU64,
    /// Bytes to clients (response bodies, WebSocket frames from the sandbox).
    bytes_out: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ActivityCounts {
        let last = self.last_ms.load(Relaxed);
        ActivityCounts {
            last_activity_at: (last != 0).then(|| UNIX_EPOCH + Duration::from_millis(last)),
            open_connections: self.open.load(Relaxed),
            websocket_sessions: self.websockets.load(Relaxed),
            requests: self.requests.load(Relaxed),
            bytes_received: self.bytes_in.load(Relaxed),
            bytes_sent: self.bytes_out.load(Relaxed),
        }
    }
}

/// What a sandbox or one of its ports has seen, as `Sandbox::activity` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActivityCounts {
    /// The last request (its start or its end) or WebSocket message either way; `None`
    /// if there was none since this process knew the sandbox.
    pub last_activity_at: Option<SystemTime>,
    /// Requests in flight and WebSocket sessions open now.
    pub open_connections: u64,
    /// WebSocket sessions open now.
    pub websocket_sessions: u64,
    /// Requests forwarded (WebSocket handshakes included).
    pub requests: u64,
    /// Bytes received from clients: request bodies and WebSocket frames.
    pub bytes_received: u64,
    /// Bytes sent to clients: response bodies and WebSocket frames.
    pub bytes_sent: u64,
}

/// A sandbox's activity: its own counts and each exposed port's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxActivity {
    /// The sandbox id.
    pub sandbox_id: String,
    /// The sandbox's counts, all ports together.
    pub total: ActivityCounts,
    /// Each exposed port's counts, sorted by port.
    pub ports: Vec<PortActivity>,
}

/// One port's activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortActivity {
    /// The port.
    pub port: u16,
    /// Its counts.
    pub counts: ActivityCounts,
}

/// The live counters of one sandbox, shared by its ports' counters.
#[derive(Debug)]
pub(crate) struct SandboxCounters {
    pub id: Arc<str>,
    counters: Counters,
    /// Where the current idle period is measured from when there was no traffic since:
    /// when this process first knew the sandbox, or when it last started running.
    since_ms: AtomicU64,
    /// The start of the idle period an `idle` event was last fired for (0: none).
    idle_fired_for: AtomicU64,
    /// This sandbox's own `idle_after` in milliseconds; `u64::MAX`: the global setting.
    idle_after_ms: AtomicU64,
    pub running: AtomicBool,
}

impl SandboxCounters {
    pub fn new(id: Arc<str>) -> SandboxCounters {
        SandboxCounters {
            id,
            counters: Counters::default(),
            since_ms: AtomicU64::new(now_ms()),
            idle_fired_for: AtomicU64::new(0),
            idle_after_ms: AtomicU64::new(u64::MAX),
            running: AtomicBool::new(true),
        }
    }

    pub fn snapshot(&self) -> ActivityCounts {
        self.counters.snapshot()
    }

    /// Starts a new idle period now (the sandbox started running).
    pub fn restart_idle_period(&self) {
        self.since_ms.store(now_ms(), Relaxed);
    }

    pub fn set_idle_after(&self, idle_after: Option<Duration>) {
        let ms = idle_after.map_or(u64::MAX, |d| d.as_millis().min(u64::MAX as u128 - 1) as u64);
        self.idle_after_ms.store(ms, Relaxed);
    }

    /// This sandbox's `idle_after`, `None` for the global one.
    pub fn own_idle_after(&self) -> Option<Duration> {
        match self.idle_after_ms.load(Relaxed) {
            u64::MAX => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Whether the sandbox went idle: running, no request in flight (and no WebSocket
    /// session when those keep it active), and nothing for `idle_after` since the later of
    /// its last traffic and the start of its idle period; then the period's start, which
    /// is marked fired (one event per period).
    pub fn take_idle(&self, now: u64, global: Duration, websockets_keep_active: bool) -> bool {
        if !self.running.load(Relaxed) {
            return false;
        }
        let idle_after = self.own_idle_after().unwrap_or(global);
        if idle_after.is_zero() {
            return false;
        }
        let open = self.counters.open.load(Relaxed);
        let websockets = self.counters.websockets.load(Relaxed);
        if open > websockets || (websockets_keep_active && websockets > 0) {
            return false;
        }
        let start = self
            .counters
            .last_ms
            .load(Relaxed)
            .max(self.since_ms.load(Relaxed));
        if now.saturating_sub(start) < idle_after.as_millis() as u64 {
            return false;
        }
        self.idle_fired_for.swap(start, Relaxed) != start
    }
}

/// The live counters of one exposed port; a request holds them for its life.
#[derive(Debug)]
pub(crate) struct PortCounters {
    pub port: u16,
    counters: Counters,
    pub sandbox: Arc<SandboxCounters>,
}

impl PortCounters {
    pub fn new(port: u16, sandbox: Arc<SandboxCounters>) -> PortCounters {
        PortCounters {
            port,
            counters: Counters::default(),
            sandbox,
        }
    }

    pub fn snapshot(&self) -> PortActivity {
        PortActivity {
            port: self.port,
            counts: self.counters.snapshot(),
        }
    }

    #[inline]
    fn both(&self, f: impl Fn(&Counters)) {
        f(&self.counters);
        f(&self.sandbox.counters);
    }

    /// Traffic now (a WebSocket message either way).
    #[inline]
    pub fn touch(&self) {
        let now = now_ms();
        self.both(|c| c.last_ms.store(now, Relaxed));
    }

    /// Bytes from the client.
    #[inline]
    pub fn received(&self, n: usize) {
        self.both(|c| {
            c.bytes_in.fetch_add(n as u64, Relaxed);
        });
    }

    /// Bytes to the client.
    #[inline]
    pub fn sent(&self, n: usize) {
        self.both(|c| {
            c.bytes_out.fetch_add(n as u64, Relaxed);
        });
    }

    /// A request begins: counted, and open until the guard is dropped.
    #[inline]
    pub fn open(self: &Arc<Self>) -> OpenGuard {
        let now = now_ms();
        self.both(|c| {
            c.requests.fetch_add(1, Relaxed);
            c.open.fetch_add(1, Relaxed);
            c.last_ms.store(now, Relaxed);
        });
        OpenGuard {
            port: self.clone(),
            websocket: false,
        }
    }
}

/// A request (or WebSocket session) counted open on its port and sandbox until dropped.
#[derive(Debug)]
pub(crate) struct OpenGuard {
    port: Arc<PortCounters>,
    websocket: bool,
}

impl OpenGuard {
    /// The counters it counts on.
    #[inline]
    pub fn port(&self) -> &Arc<PortCounters> {
        &self.port
    }

    /// The request became a WebSocket session.
    pub fn websocket(&mut self) {
        if !self.websocket {
            self.websocket = true;
            self.port.both(|c| {
                c.websockets.fetch_add(1, Relaxed);
            });
        }
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let now = now_ms();
        let websocket = self.websocket;
        self.port.both(|c| {
            c.open.fetch_sub(1, Relaxed);
            if websocket {
                c.websockets.fetch_sub(1, Relaxed);
            }
            c.last_ms.store(now, Relaxed);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_counts_on_its_port_and_its_sandbox() {
        let sb = Arc::new(SandboxCounters::new("box".into()));
        let port = Arc::new(PortCounters::new(8080, sb.clone()));
        let mut guard = port.open();
        port.received(10);
        port.sent(20);
        assert_eq!(sb.snapshot().open_connections, 1);
        guard.websocket();
        assert_eq!(port.snapshot().counts.websocket_sessions, 1);
        drop(guard);
        let total = sb.snapshot();
        assert_eq!(
            (
                total.open_connections,
                total.websocket_sessions,
                total.requests
            ),
            (0, 0, 1)
        );
        assert_eq!((total.bytes_received, total.bytes_sent), (10, 20));
        assert!(total.last_activity_at.is_some());
    }

    #[test]
    fn idle_fires_once_per_period() {
        let sb = SandboxCounters::new("box".into());
        let idle = Duration::from_millis(100);
        let start = sb.since_ms.load(Relaxed);
        assert!(!sb.take_idle(start + 50, idle, false));
        assert!(sb.take_idle(start + 150, idle, false));
        assert!(!sb.take_idle(start + 300, idle, false));
        sb.counters.last_ms.store(start + 400, Relaxed);
        assert!(!sb.take_idle(start + 450, idle, false));
        assert!(sb.take_idle(start + 520, idle, false));
        sb.set_idle_after(Some(Duration::ZERO));
        sb.counters.last_ms.store(start + 600, Relaxed);
        assert!(!sb.take_idle(start + 10_000, idle, false));
    }

    #[test]
    fn an_open_request_keeps_the_sandbox_active_and_a_websocket_only_if_configured() {
        let sb = Arc::new(SandboxCounters::new("box".into()));
        let port = Arc::new(PortCounters::new(1, sb.clone()));
        let idle = Duration::from_millis(10);
        let mut guard = port.open();
        let far = now_ms() + 1_000;
        assert!(!sb.take_idle(far, idle, false));
        guard.websocket();
        assert!(!sb.take_idle(far, idle, true));
        assert!(sb.take_idle(far, idle, false));
    }
}

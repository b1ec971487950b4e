//! The gateway's counters, rendered in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use crate::lifecycle::Lifecycle;

/// Upper bounds of the upstream latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counters shared by every connection of one gateway. Lock-free: a few relaxed atomic
/// additions per request.
#[derive(Debug)]
pub struct Metrics {
    /// Responses by status code, 100..=599.
    responses: Box<[AtomicU64; 500]>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    open_connections: AtomicI64,
    connections_total: AtomicU64,
    refused_connections: AtomicU64,
    ws_open: AtomicI64,
    ws_total: AtomicU64,
    refused_client_connections: AtomicU64,
    rate_limited_client: AtomicU64,
    rate_limited_sandbox: AtomicU64,
    accept_failures: AtomicU64,
    access_log_lines: AtomicU64,
    access_log_dropped: AtomicU64,
    /// Keys with a bucket in the client and the sandbox rate limiters.
    pub(crate) rate_keys_client: Arc<AtomicUsize>,
    pub(crate) rate_keys_sandbox: Arc<AtomicUsize>,
    wakes: AtomicU64,
    /// The activity of the Portway the gateway serves, for its gauges.
    pub(crate) lifecycle: Option<Arc<Lifecycle>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            responses: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
            latency_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_count: AtomicU64::new(0),
            latency_sum_us: AtomicU64::new(0),
            open_connections: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            refused_connections: AtomicU64::new(0),
            ws_open: AtomicI64::new(0),
            ws_total: AtomicU64::new(0),
            refused_client_connections: AtomicU64::new(0),
            rate_limited_client: AtomicU64::new(0),
            rate_limited_sandbox: AtomicU64::new(0),
            accept_failures: AtomicU64::new(0),
            access_log_lines: AtomicU64::new(0),
            access_log_dropped: AtomicU64::new(0),
            rate_keys_client: Arc::default(),
            rate_keys_sandbox: Arc::default(),
            wakes: AtomicU64::new(0),
            lifecycle: None,
        }
    }
}

/// A point-in-time copy of the main counters, for tests and embedding hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Client connections open now.
    pub open_connections: i64,
    /// WebSocket sessions being relayed now.
    pub websocket_sessions: i64,
    /// Responses sent, all statuses.
    pub requests: u64,
    /// Connections refused at the overall limit.
    pub refused_connections: u64,
    /// Connections refused at `max_connections_per_client`.
    pub refused_client_connections: u64,
    /// Requests refused at `client_request_rate`.
    pub rate_limited_client: u64,
    /// Requests refused at `sandbox_request_rate`.
    pub rate_limited_sandbox: u64,
    /// Failed accepts of the gateway's listener (out of file descriptors, ...).
    pub accept_failures: u64,
    /// Access-log lines written.
    pub access_log_lines: u64,
    /// Access-log lines dropped: the writer could not keep up, or writing failed.
    pub access_log_dropped: u64,
    /// Client addresses the client request rate tracks now.
    pub rate_limit_client_keys: u64,
    /// Wakes of stopped sandboxes this gateway started (its wake hook called).
    pub wakes: u64,
}

impl Metrics {
    /// The counters of a gateway serving the Portway whose lifecycle this is.
    pub(crate) fn of(lifecycle: Arc<Lifecycle>) -> Metrics {
        Metrics {
            lifecycle: Some(lifecycle),
            ..Metrics::default()
        }
    }

    pub(crate) fn response(&self, status: u16) {
        if let Some(c) = self.responses.get(usize::from(status).wrapping_sub(100)) {
            c.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn upstream_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.latency_buckets[i].fetch_add(1, Relaxed);
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(d.as_micros() as u64, Relaxed);
    }

    pub(crate) fn connection_opened(&self) {
        self.open_connections.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.open_connections.fetch_sub(1, Relaxed);
    }

    pub(crate) fn connection_refused(&self) {
        self.refused_connections.fetch_add(1, Relaxed);
    }

    pub(crate) fn client_connection_refused(&self) {
        self.refused_client_connections.fetch_add(1, Relaxed);
    }

    pub(crate) fn rate_limited(&self, sandbox: bool) {
        let c = if sandbox {
            &self.rate_limited_sandbox
        } else {
            &self.rate_limited_client
        };
        c.fetch_add(1, Relaxed);
    }

    pub(crate) fn accept_failed(&self) {
        self.accept_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn access_log_written(&self, lines: u64) {
        self.access_log_lines.fetch_add(lines, Relaxed);
    }

    pub(crate) fn access_log_dropped(&self, lines: u64) {
        self.access_log_dropped.fetch_add(lines, Relaxed);
    }

    pub(crate) fn ws_opened(&self) {
        self.ws_open.fetch_add(1, Relaxed);
        self.ws_total.fetch_add(1, Relaxed);
    }

    pub(crate) fn wake_started(&self) {
        self.wakes.fetch_add(1, Relaxed);
    }

    pub(crate) fn ws_closed(&self) {
        self.ws_open.fetch_sub(1, Relaxed);
    }

    /// The main counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            open_connections: self.open_connections.load(Relaxed),
            websocket_sessions: self.ws_open.load(Relaxed),
            requests: self.responses.iter().map(|c| c.load(Relaxed)).sum(),
            refused_connections: self.refused_connections.load(Relaxed),
            refused_client_connections: self.refused_client_connections.load(Relaxed),
            rate_limited_client: self.rate_limited_client.load(Relaxed),
            rate_limited_sandbox: self.rate_limited_sandbox.load(Relaxed),
            accept_failures: self.accept_failures.load(Relaxed),
            access_log_lines: self.access_log_lines.load(Relaxed),
            access_log_dropped: self.access_log_dropped.load(Relaxed),
            rate_limit_client_keys: self.rate_keys_client.load(Relaxed) as u64,
            wakes: self.wakes.load(Relaxed),
        }
    }

    /// Every counter in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str(
            "# HELP portway_requests_total Responses sent by the gateway, by status code.\n",
        );
        out.push_str("# TYPE portway_requests_total counter\n");
        for (i, c) in self.responses.iter().enumerate() {
            let n = c.load(Relaxed);
            if n > 0 {
                let _ = writeln!(out, "portway_requests_total{{status=\"{}\"}} {n}", i + 100);
            }
        }
        out.push_str("# HELP portway_upstream_latency_seconds Time from forwarding a request to the sandbox's response head.\n");
        out.push_str("# TYPE portway_upstream_latency_seconds histogram\n");
        let mut cumulative = 0;
        for (b, c) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            cumulative += c.load(Relaxed);
            let _ = writeln!(
                out,
                "portway_upstream_latency_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(
            out,
            "portway_upstream_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_us.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "portway_upstream_latency_seconds_sum {sum}");
        let _ = writeln!(out, "portway_upstream_latency_seconds_count {count}");
        let (active, waking) = self
            .lifecycle
            .as_ref()
            .map_or((0, 0), |l| (l.active_sandboxes(), l.wakes.in_progress()));
        let gauges = [
            (
                "portway_wakes_total",
                "Wakes of stopped sandboxes started (the wake hook called).",
                "counter",
                self.wakes.load(Relaxed) as i64,
            ),
            (
                "portway_wakes_in_progress",
                "Wakes of stopped sandboxes in progress now.",
                "gauge",
                waking as i64,
            ),
            (
                "portway_active_sandboxes",
                "Sandboxes with requests or WebSocket sessions open now.",
                "gauge",
                active as i64,
            ),
            (
                "portway_open_connections",
                "Client connections open now.",
                "gauge",
                self.open_connections.load(Relaxed),
            ),
            (
                "portway_connections_total",
                "Client connections accepted.",
                "counter",
                self.connections_total.load(Relaxed) as i64,
            ),
            (
                "portway_refused_connections_total",
                "Connections refused at the max_connections limit.",
                "counter",
                self.refused_connections.load(Relaxed) as i64,
            ),
            (
                "portway_refused_client_connections_total",
                "Connections refused at the max_connections_per_client limit.",
                "counter",
                self.refused_client_connections.load(Relaxed) as i64,
            ),
            (
                "portway_accept_failures_total",
                "Failed accepts of the gateway's listener (such as out of file descriptors).",
                "counter",
                self.accept_failures.load(Relaxed) as i64,
            ),
            (
                "portway_access_log_lines_total",
                "Access-log lines written.",
                "counter",
                self.access_log_lines.load(Relaxed) as i64,
            ),
            (
                "portway_access_log_dropped_total",
                "Access-log lines dropped because the writer could not keep up or failed.",
                "counter",
                self.access_log_dropped.load(Relaxed) as i64,
            ),
            (
                "portway_websocket_sessions",
                "WebSocket sessions being relayed now.",
                "gauge",
                self.ws_open.load(Relaxed),
            ),
            (
                "portway_websocket_sessions_total",
                "WebSocket sessions relayed.",
                "counter",
                self.ws_total.load(Relaxed) as i64,
            ),
        ];
        for (name, help, kind, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out.push_str(
            "# HELP portway_rate_limited_requests_total Requests refused at a request rate, by limit.\n\
             # TYPE portway_rate_limited_requests_total counter\n",
        );
        for (limit, c) in [
            ("client", &self.rate_limited_client),
            ("sandbox", &self.rate_limited_sandbox),
        ] {
            let _ = writeln!(
                out,
                "portway_rate_limited_requests_total{{limit=\"{limit}\"}} {}",
                c.load(Relaxed)
            );
        }
        out.push_str(
            "# HELP portway_rate_limit_keys Client addresses or sandboxes a request rate tracks now, by limit.\n\
             # TYPE portway_rate_limit_keys gauge\n",
        );
        for (limit, g) in [
            ("client", &self.rate_keys_client),
            ("sandbox", &self.rate_keys_sandbox),
        ] {
            let _ = writeln!(
                out,
                "portway_rate_limit_keys{{limit=\"{limit}\"}} {}",
                g.load(Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.response(200);
        m.response(200);
        m.response(404);
        m.response(42); // out of range: ignored
        m.upstream_latency(Duration::from_millis(3));
        m.connection_opened();
        m.ws_opened();
        m.rate_limited(true);
        m.client_connection_refused();
        m.access_log_dropped(2);
        let text = m.render();
        assert!(text.contains("portway_requests_total{status=\"200\"} 2\n"));
        assert!(text.contains("portway_requests_total{status=\"404\"} 1\n"));
        assert!(text.contains("portway_upstream_latency_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("portway_upstream_latency_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("portway_open_connections 1\n"));
        assert!(text.contains("portway_websocket_sessions 1\n"));
        assert_eq!(m.snapshot().requests, 3);
        assert!(text.contains("portway_rate_limited_requests_total{limit=\"sandbox\"} 1\n"));
        assert!(text.contains("portway_rate_limited_requests_total{limit=\"client\"} 0\n"));
        assert!(text.contains("portway_refused_client_connections_total 1\n"));
        assert!(text.contains("portway_access_log_dropped_total 2\n"));
        assert!(text.contains("portway_accept_failures_total 0\n"));
    }
}

//! The access log (`access_log`): one line of JSON per request the gateway answers, written
//! by a thread of its own so that a slow disk or a full pipe never holds a request up.
//!
//! A request's line is made when its response body has been sent (or the client went away):
//! [`Logged`] wraps the body, counts its bytes and hands the finished line to
//! [`AccessLog::send`], which puts it on a bounded queue without waiting. When the queue is
//! full the line is dropped and counted (`portway_access_log_dropped_total`), as is a line
//! the writer failed to write. A WebSocket handshake is logged once, when it is answered
//! (status 101, 0 bytes): the session's own traffic is not in the log.
//!
//! The preview host is written with its token replaced: the first label's part after its
//! last `-` (where a preview host's token is) is always `REDACTED`, for hosts that route and
//! for hosts that do not. The path is written without its query.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::metrics::Metrics;
use super::route::request_host;
use crate::error::{Error, Result};
use crate::throttle::Throttle;

/// Lines waiting for the writer, at most; past it lines are dropped. With the lengths below
/// a full queue holds a few MiB at most.
const QUEUE: usize = 4096;

/// The longest host written; a longer one is cut (on a character boundary).
const MAX_HOST: usize = 255;

/// The longest path written; a longer one is cut (on a character boundary).
const MAX_PATH: usize = 2048;

/// The longest method written (a method is any token).
const MAX_METHOD: usize = 32;

/// What the token of a host is written as.
const REDACTED: &str = "REDACTED";

/// The access log of a gateway: the sending side of the writer thread's queue.
#[derive(Debug)]
pub(crate) struct AccessLog {
    queue: SyncSender<String>,
    metrics: Arc<Metrics>,
}

enum Target {
    Stdout,
    Stderr,
    File(std::fs::File),
}

impl AccessLog {
    /// Opens `target` (`"stdout"`, `"stderr"` or a file path, appended to) and starts the
    /// writer thread, which ends when the gateway is dropped.
    pub fn open(target: &str, metrics: Arc<Metrics>) -> Result<AccessLog> {
        let target = match target {
            "stdout" => Target::Stdout,
            "stderr" => Target::Stderr,
            path => Target::File(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        Error::Gateway(format!("cannot open the access log {path}: {e}"))
                    })?,
            ),
        };
        let (queue, lines) = sync_channel(QUEUE);
        let writer_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("portway-access-log".into())
            .spawn(move || write_lines(target, lines, &writer_metrics))
            .map_err(|e| Error::Gateway(format!("cannot start the access-log writer: {e}")))?;
        Ok(AccessLog { queue, metrics })
    }

    /// Queues one line, or drops it (counted) when the writer is behind.
    fn send(&self, line: String) {
        match self.queue.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.metrics.access_log_dropped(1);
            }
        }
    }
}

/// The writer thread: each batch of queued lines written, then flushed.
fn write_lines(target: Target, lines: Receiver<String>, metrics: &Metrics) {
    let mut failures = Throttle::new(Duration::from_secs(10));
    let mut batch = Vec::with_capacity(64 * 1024);
    while let Ok(first) = lines.recv() {
        batch.clear();
        let mut n = 0u64;
        for line in std::iter::once(first).chain(lines.try_iter().take(QUEUE)) {
            batch.extend_from_slice(line.as_bytes());
            batch.push(b'\n');
            n += 1;
        }
        let written = match &target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&batch).and_then(|()| out.flush())
            }
            Target::Stderr => std::io::stderr().lock().write_all(&batch),
            Target::File(file) => (&*file).write_all(&batch),
        };
        match written {
            Ok(()) => metrics.access_log_written(n),
            Err(e) => {
                metrics.access_log_dropped(n);
                if let Some(suppressed) = failures.hit() {
                    tracing::warn!(error = %e, suppressed, "cannot write the access log");
                }
            }
        }
    }
}

/// The time from sending a request to the sandbox's response head, carried in the
/// response's extensions to where the line is made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UpstreamLatency(pub Duration);

/// A request's line, filled in as the request goes through the phases.
#[derive(Debug)]
pub(crate) struct Entry {
    time: SystemTime,
    start: Instant,
    client: Option<SocketAddr>,
    method: String,
    path: String,
    host: Option<String>,
    pub sandbox: Option<Arc<str>>,
    pub port: Option<u16>,
    pub upstream: Option<Duration>,
}

impl Entry {
    /// The start of a request's line: when it came, from whom, what it asked for.
    pub fn begin<B>(req: &Request<B>, client: Option<SocketAddr>) -> Entry {
        Entry {
            time: SystemTime::now(),
            start: Instant::now(),
            client,
            method: cut(req.method().as_str(), MAX_METHOD).to_owned(),
            path: cut(req.uri().path(), MAX_PATH).to_owned(),
            host: request_host(req).map(redact_host),
            sandbox: None,
            port: None,
            upstream: None,
        }
    }

    /// The line, for a response of `status` whose body sent `bytes`.
    fn line(&self, status: u16, bytes: u64) -> String {
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        serde_json::json!({
            "time": rfc3339_millis(self.time),
            "client": self.client.map(|c| c.to_string()),
            "method": self.method,
            "host": self.host,
            "sandbox": self.sandbox.as_deref(),
            "port": self.port,
            "path": self.path,
            "status": status,
            "bytes": bytes,
            "duration_ms": ms(self.start.elapsed()),
            "upstream_ms": self.upstream.map(ms),
        })
        .to_string()
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `host` with the token replaced: the first label's part after its last `-`.
pub(crate) fn redact_host(host: &str) -> String {
    let host = cut(host, MAX_HOST);
    let label_end = host.find('.').unwrap_or(host.len());
    match host[..label_end].rfind('-') {
        Some(dash) => format!("{}-{REDACTED}{}", &host[..dash], &host[label_end..]),
        None => host.to_owned(),
    }
}

/// `t` as RFC 3339 in UTC with milliseconds: `2026-12-03T14:37:35.123Z`.
pub(crate) fn rfc3339_millis(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pin_project! {
    /// A response body that counts the bytes sent and, when it ends (or is dropped, when
    /// the client went away), writes its request's line.
    pub(crate) struct Logged<B> {
        #[pin]
        inner: B,
        pending: Option<(Entry, Arc<AccessLog>)>,
        status: u16,
        bytes: u64,
    }

    impl<B> PinnedDrop for Logged<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            finish(this.pending, *this.status, *this.bytes);
        }
    }
}

impl<B> Logged<B> {
    pub fn new(inner: B, entry: Entry, log: Arc<AccessLog>, status: u16) -> Logged<B> {
        Logged {
            inner,
            pending: Some((entry, log)),
            status,
            bytes: 0,
        }
    }
}

fn finish(pending: &mut Option<(Entry, Arc<AccessLog>)>, status: u16, bytes: u64) {
    if let Some((entry, log)) = pending.take() {
        log.send(entry.line(status, bytes));
    }
}

impl<B: Body<Data = Bytes>> Body for Logged<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let res = this.inner.poll_frame(cx);
        match &res {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None | Some(Err(_))) => finish(this.pending, *this.status, *this.bytes),
            Poll::Pending => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_of_a_host_is_never_written() {
        assert_eq!(
            redact_host("8080-my-box-k3j9x2m4p7q1w8e5.localhost:8080"),
            "8080-my-box-REDACTED.localhost:8080"
        );
        assert_eq!(
            redact_host("8080-Box-WRONGTOKEN.example.com"),
            "8080-Box-REDACTED.example.com"
        );
        // Hosts that are no preview host lose the same part.
        assert_eq!(redact_host("a-b.example.com"), "a-REDACTED.example.com");
        assert_eq!(redact_host("8080-box-tok:8080"), "8080-box-REDACTED");
        assert_eq!(redact_host("example.com"), "example.com");
        assert_eq!(redact_host("localhost:8080"), "localhost:8080");
        let long = format!("{}-secret", "a".repeat(300));
        assert!(!redact_host(&long).contains("secret"));
        assert!(redact_host(&format!("{}é", "a".repeat(254))).len() <= MAX_HOST);
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        let at = |secs: u64, ms: u64| {
            rfc3339_millis(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_796_305_055, 123), "2026-12-03T13:37:35.123Z");
        assert_eq!(at(4_102_444_799, 999), "2099-12-31T23:59:59.999Z");
    }
}

//! `portway serve`'s webhooks: the wake hook as a URL (`--wake-url`), and every lifecycle
//! event POSTed to another (`--events-url`), retried with backoff on a task of its own so
//! that a slow or absent receiver never holds the proxy back. Plain HTTP/1.1, or HTTPS with
//! the system's roots (and `SSL_CERT_FILE` / `SSL_CERT_DIR`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use portway::{EventStream, WakeHook, WakeRequest};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How long one POST may take (connect, TLS, answer).
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// The first pause before an event is sent again; doubled each time, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How many times an event is tried before it is dropped (with an error in the log).
const EVENT_ATTEMPTS: u32 = 10;
/// How much of a webhook's answer is read (a wake failure's reason).
const MAX_ANSWER: usize = 4096;

/// A webhook's URL, checked when the settings are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    uri: Uri,
    https: bool,
    host: String,
    port: u16,
}

impl WebhookUrl {
    /// Parses an `http://` or `https://` URL with a host; `setting` names it in the error.
    ///
    /// ```
    /// use portway_cli::webhooks::WebhookUrl;
    /// assert!(WebhookUrl::parse("wake_url", "http://127.0.0.1:9000/wake").is_ok());
    /// assert!(WebhookUrl::parse("wake_url", "ftp://example.com/").is_err());
    /// ```
    pub fn parse(setting: &str, url: &str) -> Result<WebhookUrl, String> {
        let bad = |why: &str| format!("{setting}: {why} (got {url:?})");
        let uri: Uri = url
            .parse()
            .map_err(|_| bad("not a URL; give http://host[:port]/path"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("the URL must start with http:// or https://")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("the URL has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(WebhookUrl {
            uri,
            https,
            host,
            port,
        })
    }

    /// POSTs `body` as JSON; the status and the start of the answer.
    pub async fn post(&self, body: Vec<u8>) -> Result<(StatusCode, String), String> {
        tokio::time::timeout(POST_TIMEOUT, self.post_now(body))
            .await
            .unwrap_or_else(|_| Err(format!("{} did not answer in time", self.uri)))
    }

    async fn post_now(&self, body: Vec<u8>) -> Result<(StatusCode, String), String> {
        let unreachable = |e: &dyn std::fmt::Display| format!("cannot reach {}: {e}", self.uri);
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| unreachable(&e))?;
        let _ = tcp.set_nodelay(true);
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let authority = self
            .uri
            .authority()
            .map_or(self.host.clone(), |a| a.to_string());
        let req = Request::post(path)
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("portway/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| unreachable(&e))?;
        if self.https {
            let tls = tls_connector()?;
            let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                .map_err(|e| unreachable(&e))?;
            let stream = tls.connect(name, tcp).await.map_err(|e| unreachable(&e))?;
            send(TokioIo::new(stream), req)
                .await
                .map_err(|e| unreachable(&e))
        } else {
            send(TokioIo::new(tcp), req)
                .await
                .map_err(|e| unreachable(&e))
        }
    }
}

impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.uri.fmt(f)
    }
}

async fn send<IO>(
    io: IO,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, String), Box<dyn std::error::Error + Send + Sync>>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let res = sender.send_request(req).await?;
    let status = res.status();
    let answer = Limited::new(res.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    Ok((status, answer))
}

/// The TLS client of the webhooks: the system's roots, made once.
fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    static CONNECTOR: std::sync::OnceLock<Result<tokio_rustls::TlsConnector, String>> =
        std::sync::OnceLock::new();
    CONNECTOR
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(
                    "no trusted root certificates found for https webhooks (set SSL_CERT_FILE)"
                        .into(),
                );
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
        })
        .clone()
}

/// The wake hook of `--wake-url`: POSTs `{"event": "wake", "sandbox_id", "port", "time"}`;
/// a 2xx answer means the start is under way, anything else fails the wake with the status
/// and the start of the answer as its reason.
#[derive(Debug, Clone)]
pub struct WakeWebhook {
    /// Where it POSTs.
    pub url: WebhookUrl,
}

impl WakeHook for WakeWebhook {
    fn wake(
        &self,
        request: WakeRequest,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        let url = self.url.clone();
        Box::pin(async move {
            let body = serde_json::json!({
                "event": "wake",
                "sandbox_id": request.sandbox_id,
                "port": request.port,
                "time": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            });
            let (status, answer) = url.post(body.to_string().into_bytes()).await?;
            if status.is_success() {
                Ok(())
            } else {
                let answer = answer.trim();
                Err(if answer.is_empty() {
                    format!("the wake URL answered {status}")
                } else {
                    format!("the wake URL answered {status}: {answer}")
                })
            }
        })
    }
}

/// POSTs every event of `events` to `url` in order, each retried with backoff (doubling
/// from 200 ms to 30 s, 10 attempts) until a 2xx answer; until `stop`, or the stream ends.
pub async fn forward_events(events: EventStream, url: WebhookUrl, stop: CancellationToken) {
    loop {
        let event = tokio::select! {
            e = events.next() => match e {
                Some(e) => e,
                None => return,
            },
            () = stop.cancelled() => return,
        };
        let body = event.to_json().to_string().into_bytes();
        let mut pause = FIRST_BACKOFF;
        for attempt in 1..=EVENT_ATTEMPTS {
            let why = match url.post(body.clone()).await {
                Ok((status, _)) if status.is_success() => break,
                Ok((status, _)) => format!("answered {status}"),
                Err(e) => e,
            };
            if attempt == EVENT_ATTEMPTS {
                tracing::error!(event = %event.kind.as_str(), sandbox = %event.sandbox_id, %url, reason = %why, "event dropped after {EVENT_ATTEMPTS} attempts");
                break;
            }
            tracing::warn!(event = %event.kind.as_str(), sandbox = %event.sandbox_id, %url, reason = %why, attempt, "event not delivered; trying again");
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stop.cancelled() => return,
            }
            pause = (pause * 2).min(MAX_BACKOFF);
        }
    }
}

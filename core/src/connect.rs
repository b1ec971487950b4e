//! Connecting to a sandbox service, with a short retry window for services still starting.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

use crate::upstream_policy::{OwnListeners, UpstreamPolicy};

/// The pause between connect attempts inside the retry window.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Why a connect to a sandbox service failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// Refused (nothing listens) for the whole retry window.
    NotListening(io::Error),
    /// One attempt took longer than the connect timeout.
    Timeout,
    /// Anything else (no route, a name that does not resolve, ...).
    Other(io::Error),
    /// The address is one the gateway must not connect to: refused by the upstream policy,
    /// or one of Portway's own listeners. The message says which and why.
    Forbidden(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::NotListening(e) => write!(f, "nothing is listening ({e})"),
            ConnectError::Timeout => f.write_str("the connect timed out"),
            ConnectError::Other(e) => write!(f, "the connect failed ({e})"),
            ConnectError::Forbidden(why) => write!(f, "the upstream is forbidden: {why}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::NotListening(e) | ConnectError::Other(e) => Some(e),
            ConnectError::Timeout | ConnectError::Forbidden(_) => None,
        }
    }
}

/// What the gateway checks before and after it connects for a visitor: the upstream address
/// policy, and that the address is not one of Portway's own listeners.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamGuard {
    pub policy: UpstreamPolicy,
    pub listeners: Arc<OwnListeners>,
}

impl UpstreamGuard {
    /// `Err` when the gateway must not connect to `addr`.
    fn check(&self, addr: SocketAddr) -> Result<(), ConnectError> {
        if let Err(refused) = self.policy.check(addr.ip()) {
            return Err(ConnectError::Forbidden(refused.to_string()));
        }
        self.check_own(addr, None)
    }

    fn check_own(&self, addr: SocketAddr, local: Option<IpAddr>) -> Result<(), ConnectError> {
        match self.listeners.reached_by(addr, local) {
            Some(listener) => Err(ConnectError::Forbidden(format!(
                "{addr} is Portway's own listener {listener}"
            ))),
            None => Ok(()),
        }
    }
}

/// The addresses `host:port` stands for, in the resolver's order (an IP address stands for
/// itself).
async fn addresses(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(vec![SocketAddr::new(ip, port)]),
        Err(_) => Ok(tokio::net::lookup_host((host, port)).await?.collect()),
    }
}

/// Connects to `host:port`, retrying refused connects until `retry_window` has passed. With
/// a `guard`, only the addresses the guard allows are tried (in the resolver's order), and the connected socket is checked again: what is checked is
/// the address actually connected to, whatever the name resolved to a moment before.
pub(crate) async fn connect(
    host: &str,
    port: u16,
    retry_window: Duration,
    attempt_timeout: Duration,
    guard: Option<&UpstreamGuard>,
) -> Result<TcpStream, ConnectError> {
    let give_up = Instant::now() + retry_window;
    loop {
        let attempt = timeout(attempt_timeout, async {
            let addrs = addresses(host, port).await.map_err(ConnectError::Other)?;
            let mut last = None;
            for addr in addrs {
                if let Some(guard) = guard
                    && let Err(refusal) = guard.check(addr)
                {
                    last.get_or_insert(refusal);
                    continue;
                }
                let stream = match TcpStream::connect(addr).await {
                    Ok(stream) => stream,
                    Err(e) => {
                        last = Some(ConnectError::Other(e));
                        continue;
                    }
                };
                if let Some(guard) = guard {
                    let peer = stream.peer_addr().map_err(ConnectError::Other)?;
                    let local = stream.local_addr().map_err(ConnectError::Other)?;
                    guard.check_own(peer, Some(local.ip()))?;
                }
                return Ok(stream);
            }
            Err(last.unwrap_or_else(|| {
                ConnectError::Other(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{host} resolves to no address"),
                ))
            }))
        })
        .await;
        let err = match attempt {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(ConnectError::Other(e))) => e,
            Ok(Err(other)) => return Err(other),
            Err(_) => return Err(ConnectError::Timeout),
        };
        let refused = matches!(
            err.kind(),
            io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
        );
        if !refused {
            return Err(ConnectError::Other(err));
        }
        if Instant::now() + RETRY_PAUSE > give_up {
            return Err(ConnectError::NotListening(err));
        }
        sleep(RETRY_PAUSE).await;
    }
}

//! Connecting to a sandbox service, with a short retry window for services still starting.

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

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
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::NotListening(e) => write!(f, "nothing is listening ({e})"),
            ConnectError::Timeout => f.write_str("the connect timed out"),
            ConnectError::Other(e) => write!(f, "the connect failed ({e})"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::NotListening(e) | ConnectError::Other(e) => Some(e),
            ConnectError::Timeout => None,
        }
    }
}

/// Connects to `host:port`, retrying refused connects until `retry_window` has passed.
pub(crate) async fn connect(
    host: &str,
    port: u16,
    retry_window: Duration,
    attempt_timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let give_up = Instant::now() + retry_window;
    loop {
        let attempt = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => timeout(attempt_timeout, TcpStream::connect((ip, port))).await,
            Err(_) => timeout(attempt_timeout, TcpStream::connect((host, port))).await,
        };
        let err = match attempt {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => e,
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

//! `GatewayHandle`: a running gateway, its address, its counters, and its shutdown.

use std::sync::Arc;

/// A running gateway. `close()` (or dropping the last reference) stops it.
#[derive(Debug, uniffi::Object)]
pub struct GatewayHandle {
    inner: Arc<portway::GatewayHandle>,
}

impl GatewayHandle {
    pub(crate) fn new(inner: portway::GatewayHandle) -> GatewayHandle {
        GatewayHandle {
            inner: Arc::new(inner),
        }
    }
}

#[uniffi::export]
impl GatewayHandle {
    /// The address the gateway listens on, `host:port` (with the port the OS chose for port
    /// 0). Swift: `localAddr`.
    pub fn get_local_addr(&self) -> String {
        self.inner.local_addr().to_string()
    }

    /// The port the gateway listens on. Swift: `port`.
    pub fn get_port(&self) -> u16 {
        self.inner.local_addr().port()
    }

    /// Every counter in the Prometheus text format (requests by status, upstream latency,
    /// open connections, WebSocket sessions).
    pub fn metrics(&self) -> String {
        self.inner.gateway().metrics().render()
    }

    /// Shuts down gracefully: stops accepting, lets in-flight requests finish and asks
    /// WebSocket sessions to close (1001) for up to `deadline` seconds, then closes the rest.
    /// Calling it again is harmless.
    pub async fn shutdown(&self, deadline: f64) {
        // A negative or NaN deadline is no wait at all; an endless one waits as long as it takes.
        let deadline = std::time::Duration::try_from_secs_f64(deadline.max(0.0))
            .unwrap_or(std::time::Duration::MAX);
        let handle = self.inner.clone();
        // Only a runtime that cannot start fails here, and then nothing is running to stop.
        let _ = crate::run(async move {
            handle.shutdown(deadline).await;
            Ok(())
        })
        .await;
    }

    /// `shutdown` with the configured `shutdownTimeout` (default 10 s).
    pub async fn close(&self) {
        let handle = self.inner.clone();
        let _ = crate::run(async move {
            handle.close().await;
            Ok(())
        })
        .await;
    }
}

//! `Sandbox`: expose, unexpose and list its ports, wait for them, connect WebSockets to them,
//! and follow its lifecycle. Every call that touches the store or the network is async and
//! runs on the library's runtime.

use std::collections::HashMap;
use std::sync::Arc;

use crate::errors::PortwayError;
use crate::records::{self, ExposedPort, ExposedPortInfo, PortActivity, SandboxActivity, WaitMode};
use crate::websocket::WebSocket;

/// A handle on one sandbox.
#[derive(Debug, uniffi::Object)]
pub struct Sandbox {
    inner: portway::Sandbox,
}

impl Sandbox {
    pub(crate) fn new(inner: portway::Sandbox) -> Sandbox {
        Sandbox { inner }
    }

    fn port(&self, port: i64) -> Result<u16, PortwayError> {
        Ok(self.inner.portway().rules().validate_port(port)?)
    }
}

#[uniffi::export]
impl Sandbox {
    /// The sandbox id (lowercased when the Portway normalises ids). Swift: `id`.
    pub fn get_id(&self) -> String {
        self.inner.id().to_owned()
    }

    /// Where the sandbox's services listen. Swift: `upstreamHost`.
    pub fn get_upstream_host(&self) -> String {
        self.inner.upstream_host().to_owned()
    }

    /// Publishes `port` at a preview URL under `hostname`. The token is `token`, else the one
    /// the port already has, else a new one; a name given replaces the old one.
    #[uniffi::method(default(name = None, token = None))]
    pub async fn expose_port(
        &self,
        port: i64,
        hostname: String,
        name: Option<String>,
        token: Option<String>,
    ) -> Result<ExposedPort, PortwayError> {
        let port = self.port(port)?;
        let sb = self.inner.clone();
        crate::run(async move {
            let opts = portway::ExposeOptions {
                hostname,
                name,
                token,
            };
            Ok(sb.expose_port(port, opts).await?.into())
        })
        .await
    }

    /// Withdraws a port; unexposing a port that is not exposed succeeds.
    pub async fn unexpose_port(&self, port: i64) -> Result<(), PortwayError> {
        let port = self.port(port)?;
        let sb = self.inner.clone();
        crate::run(async move { Ok(sb.unexpose_port(port).await?) }).await
    }

    /// The exposed ports with their URLs under `hostname`, sorted by port.
    pub async fn get_exposed_ports(
        &self,
        hostname: String,
    ) -> Result<Vec<ExposedPortInfo>, PortwayError> {
        let sb = self.inner.clone();
        crate::run(async move {
            let ports = sb.get_exposed_ports(&hostname).await?;
            Ok(records::all(ports))
        })
        .await
    }

    /// Whether `port` is exposed; `false` for an invalid port.
    pub async fn is_port_exposed(&self, port: i64) -> bool {
        let port = self.port(port).ok();
        let sb = self.inner.clone();
        crate::run(async move { Ok(sb.is_port_exposed(port).await) })
            .await
            .unwrap_or(false)
    }

    /// Whether `token` is the token of `port` (compared in constant time); `false` for an
    /// invalid port.
    pub async fn validate_port_token(&self, port: i64, token: String) -> bool {
        let port = self.port(port).ok();
        let sb = self.inner.clone();
        crate::run(async move { Ok(sb.validate_port_token(port, &token).await) })
            .await
            .unwrap_or(false)
    }

    /// Waits until the service on `port` answers: a TCP connect, or (default) `GET path`
    /// with a status in `status_min...status_max`. `PORT_WAIT_TIMEOUT` when it does not
    /// within `timeout` seconds. `nil` keeps a default: HTTP, `/`, 200...399, 30 s, 0.1 s.
    #[uniffi::method(default(
        mode = None,
        path = None,
        status_min = None,
        status_max = None,
        timeout = None,
        interval = None
    ))]
    #[allow(clippy::too_many_arguments)] // the foreign side names every argument
    pub async fn wait_for_port(
        &self,
        port: i64,
        mode: Option<WaitMode>,
        path: Option<String>,
        status_min: Option<i64>,
        status_max: Option<i64>,
        timeout: Option<f64>,
        interval: Option<f64>,
    ) -> Result<(), PortwayError> {
        let port = self.port(port)?;
        let invalid = |message: String| PortwayError::InvalidArgument { message };
        let opts = portway::WaitSettings {
            mode: mode.map(Into::into),
            path,
            status_min,
            status_max,
            timeout: timeout
                .map(|t| crate::seconds("timeout", t, invalid))
                .transpose()?,
            interval: interval
                .map(|i| crate::seconds("interval", i, invalid))
                .transpose()?,
        }
        .resolve()?;
        let sb = self.inner.clone();
        crate::run(async move { Ok(sb.wait_for_port(port, opts).await?) }).await
    }

    /// Opens a WebSocket to the service on `port` (`ws://{upstream_host}:{port}{path}`, with
    /// `Host: localhost:{port}`). Needs no exposure. `nil` keeps a default: 16 MiB messages,
    /// a 10 s connect timeout.
    #[uniffi::method(default(
        path = None,
        headers = None,
        subprotocols = None,
        max_message_size = None,
        connect_timeout = None
    ))]
    pub async fn ws_connect(
        &self,
        port: i64,
        path: Option<String>,
        headers: Option<HashMap<String, String>>,
        subprotocols: Option<Vec<String>>,
        max_message_size: Option<u64>,
        connect_timeout: Option<f64>,
    ) -> Result<Arc<WebSocket>, PortwayError> {
        let port = self.port(port)?;
        let invalid = |message: String| PortwayError::InvalidArgument { message };
        let opts = portway::WsConnectSettings {
            path,
            headers: headers.map(|h| h.into_iter().collect()),
            subprotocols,
            max_message_size,
            connect_timeout: connect_timeout
                .map(|t| crate::seconds("connect_timeout", t, invalid))
                .transpose()?,
        }
        .resolve()?;
        let sb = self.inner.clone();
        let ws = crate::run(async move { Ok(sb.ws_connect(port, opts).await?) }).await?;
        Ok(Arc::new(WebSocket::new(ws)))
    }

    /// Marks the sandbox running: its URLs are served again (same tokens, same URLs).
    pub async fn mark_running(&self) -> Result<(), PortwayError> {
        let sb = self.inner.clone();
        crate::run(async move { Ok(sb.mark_running().await?) }).await
    }

    /// Marks the sandbox stopped: its URLs answer 410 until it runs again.
    pub async fn mark_stopped(&self) -> Result<(), PortwayError> {
        let sb = self.inner.clone();
        crate::run(async move { Ok(sb.mark_stopped().await?) }).await
    }

    /// Forgets the sandbox and its tokens: its URLs answer 404.
    pub async fn destroy(&self) -> Result<(), PortwayError> {
        let sb = self.inner.clone();
        crate::run(async move { Ok(sb.destroy().await?) }).await
    }

    /// What the gateways of this process saw of the sandbox, all ports together: the last
    /// activity (RFC 3339, or `nil`), open requests and sessions, requests, bytes both ways.
    pub fn activity(&self) -> SandboxActivity {
        SandboxActivity::from(self.inner.activity())
    }

    /// The same per exposed port, sorted by port.
    pub fn port_activity(&self) -> Vec<PortActivity> {
        records::all(self.inner.activity().ports)
    }

    /// Sets this sandbox's own `idle_after` in seconds: how long without traffic before its
    /// `idle` event. `nil`: the gateway setting; 0: never idle.
    ///
    /// - Throws: `invalidArgument` for a negative or too long value.
    pub fn set_idle_after(&self, seconds: Option<f64>) -> Result<(), PortwayError> {
        let invalid = |message: String| PortwayError::InvalidArgument { message };
        let d = seconds
            .map(|s| crate::seconds("seconds", s, invalid))
            .transpose()?;
        Ok(self.inner.set_idle_after(d)?)
    }

    /// This sandbox's own `idle_after` in seconds, or `nil` (the gateway setting).
    pub fn idle_after(&self) -> Option<f64> {
        self.inner.idle_after().map(|d| d.as_secs_f64())
    }
}

//! `WebSocket`: a client connection from the host to a sandbox service (`wsConnect`).

use std::sync::Arc;

use crate::errors::PortwayError;
use crate::records::WebSocketMessage;

/// An open WebSocket to a sandbox service. Send, receive until `nil`, close.
#[derive(Debug, uniffi::Object)]
pub struct WebSocket {
    inner: Arc<portway::WebSocket>,
}

impl WebSocket {
    pub(crate) fn new(inner: portway::WebSocket) -> WebSocket {
        WebSocket {
            inner: Arc::new(inner),
        }
    }
}

#[uniffi::export]
impl WebSocket {
    /// Sends a text message. `WS_CLOSED` once the connection is closing or closed.
    pub async fn send_text(&self, text: String) -> Result<(), PortwayError> {
        let ws = self.inner.clone();
        crate::run(async move { Ok(ws.send_text(text).await?) }).await
    }

    /// Sends a binary message. `WS_CLOSED` once the connection is closing or closed.
    pub async fn send_data(&self, data: Vec<u8>) -> Result<(), PortwayError> {
        let ws = self.inner.clone();
        crate::run(async move { Ok(ws.send_binary(data).await?) }).await
    }

    /// The next message; `nil` once the connection is closed (`closeCode` and
    /// `closeReason` then say how).
    pub async fn recv(&self) -> Result<Option<WebSocketMessage>, PortwayError> {
        let ws = self.inner.clone();
        crate::run(async move { Ok(ws.recv().await?.map(WebSocketMessage::from)) }).await
    }

    /// Closes with `code` (1000, 1001-1003, 1007-1014 or 3000-4999) and a reason of at most
    /// 123 bytes, and waits (up to 5 s) for the service to answer. Closing twice is harmless.
    #[uniffi::method(default(code = 1000, reason = ""))]
    pub async fn close(&self, code: u16, reason: String) -> Result<(), PortwayError> {
        let ws = self.inner.clone();
        crate::run(async move { Ok(ws.close(code, &reason).await?) }).await
    }

    /// The subprotocol the service chose, if any. Swift: `protocol`.
    pub fn get_protocol(&self) -> Option<String> {
        self.inner.protocol().map(str::to_owned)
    }

    /// The close code the service sent, once it closed (1005 when it gave none). Swift:
    /// `closeCode`.
    pub fn get_close_code(&self) -> Option<u16> {
        self.inner.close_code()
    }

    /// The close reason the service sent, once it closed. Swift: `closeReason`.
    pub fn get_close_reason(&self) -> Option<String> {
        self.inner.close_reason()
    }

    /// Whether the connection is closed or closing. Swift: `isClosed`.
    pub fn get_is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

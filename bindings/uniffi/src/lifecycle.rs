//! Sandbox lifecycle in Swift: `EventStream` (the core's events; an `AsyncSequence` in
//! swift/Sources/Portway/EventStream+Swift.swift) and the wake hook, a Swift protocol with an
//! `async throws` method that the core awaits.

use std::sync::Arc;

use crate::records::{LifecycleEvent, WakeRequest};

/// The lifecycle events of a Portway from the moment `portway.events()` was called:
/// `idle`, `exposed`, `unexposed`, `running`, `stopped`, `destroyed`.
#[derive(uniffi::Object)]
pub struct EventStream {
    inner: Arc<portway::EventStream>,
}

impl EventStream {
    pub(crate) fn new(inner: portway::EventStream) -> EventStream {
        EventStream {
            inner: Arc::new(inner),
        }
    }
}

#[uniffi::export]
impl EventStream {
    /// The next event; `nil` once the stream is closed.
    pub async fn next(&self) -> Option<LifecycleEvent> {
        let inner = self.inner.clone();
        crate::run(async move { Ok(inner.next().await.map(LifecycleEvent::from)) })
            .await
            .ok()
            .flatten()
    }

    /// Ends the stream, a `next()` waiting included. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether the stream was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.inner.close();
    }
}

/// Why a wake failed: what the host's `WakeHandler` threw.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum WakeError {
    /// The sandbox could not be started; `reason` is shown to API clients.
    Failed {
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for WakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WakeError::Failed { reason } => f.write_str(reason),
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for WakeError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> WakeError {
        WakeError::Failed { reason: e.reason }
    }
}

/// Starts a stopped sandbox when a request arrives for it (`serve(listen:wake:)`): called once
/// per sandbox however many requests wait. Return once the start is under way (the gateway
/// then waits for the port and marks the sandbox running); throw to fail the wake (503
/// `SANDBOX_WAKE_FAILED` with the error's description as reason).
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait WakeHandler: Send + Sync {
    /// Starts the sandbox `request.sandboxId`.
    async fn wake(&self, request: WakeRequest) -> Result<(), WakeError>;
}

/// The core's hook over the host's handler.
pub(crate) struct SwiftWakeHook(pub Arc<dyn WakeHandler>);

impl portway::WakeHook for SwiftWakeHook {
    fn wake(
        &self,
        request: portway::WakeRequest,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>> {
        let handler = self.0.clone();
        Box::pin(async move {
            handler
                .wake(WakeRequest::from(request))
                .await
                .map_err(|e| e.to_string())
        })
    }
}

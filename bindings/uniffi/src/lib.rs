//! `portway_ffi`: the UniFFI facade over the `portway` crate, for the Swift package (module
//! `Portway`, see `Package.swift` and `swift/`). One file per core concept, no logic of its
//! own: conversions between UniFFI's types and the core's.
//!
//! Everything that does I/O runs on the core's shared multi-thread tokio runtime: an
//! exported `async fn` spawns its work there and awaits the task, so the gateway, WebSockets
//! and store writes never run on the thread that polls the foreign future.

mod errors;
mod gateway;
mod lifecycle;
mod portway;
mod preview_url;
mod records;
mod sandbox;
mod websocket;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;

pub use crate::errors::{PortwayError, PortwayErrorCode};

uniffi::setup_scaffolding!("portway");

/// Runs `fut` on the library's runtime and waits for it. Dropping the returned future (a
/// cancelled foreign task) aborts the work.
pub(crate) async fn run<T, F>(fut: F) -> Result<T, PortwayError>
where
    F: Future<Output = Result<T, PortwayError>> + Send + 'static,
    T: Send + 'static,
{
    let task = AbortOnDrop(::portway::shared_runtime()?.spawn(fut));
    task.await.map_err(|e| PortwayError::GatewayError {
        message: format!("a Portway task failed: {e}"),
    })?
}

/// A task handle that aborts the task when dropped before it finished.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Seconds given by the host as a [`std::time::Duration`]; `what` names the value in the
/// error (negative, NaN and infinite values are refused).
pub(crate) fn seconds(
    what: &str,
    secs: f64,
    err: fn(String) -> PortwayError,
) -> Result<std::time::Duration, PortwayError> {
    ::portway::options::duration(what, secs, ::portway::options::TimeUnit::Seconds).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_uses_the_multi_thread_runtime() {
        let flavor = futures_block_on(run(async {
            Ok(tokio::runtime::Handle::current().runtime_flavor())
        }));
        assert!(matches!(
            flavor,
            Ok(tokio::runtime::RuntimeFlavor::MultiThread)
        ));
    }

    #[test]
    fn seconds_refuses_what_is_not_a_duration() {
        let err = |m| PortwayError::InvalidArgument { message: m };
        assert!(seconds("t", 1.5, err).is_ok());
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(seconds("t", bad, err).is_err());
        }
    }

    /// Polls a future outside any tokio runtime, as the foreign side does.
    fn futures_block_on<F: Future>(fut: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime without drivers");
        rt.block_on(fut)
    }
}

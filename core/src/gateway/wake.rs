//! The wake phase: a request for a stopped sandbox, when the gateway has a wake hook, is
//! admitted (it counts against the sandbox's limit while it waits), joins the sandbox's
//! wake (one per sandbox, however many requests arrive together: `lifecycle::Wakes`) and
//! is held until the wake ends, then routed again. The wake itself runs on a task of its
//! own, so that it goes on when the requests that started it are gone (a browser shown
//! the "starting" page comes back to it): the hook, then a TCP connect to the port until
//! it answers, then the sandbox marked running, all within `wake_timeout`.

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use http::header::ACCEPT;
use tokio::sync::watch;
use tokio::time::Instant;

use super::limits::SandboxPermit;
use super::refusal::GatewayRefusal;
use super::route::request_host;
use super::{Body, Gateway, resolve};
use crate::connect::{ConnectError, UpstreamGuard};
use crate::lifecycle::{WakeHook, WakeOutcome, WakeRequest, wake::Joined};
use crate::registry::{Registry, Resolution, Upstream};
use crate::store::SandboxStatus;

/// How often a wake looks again whether the port answers and whether the sandbox still
/// exists.
const WAKE_POLL: Duration = Duration::from_millis(50);

impl Gateway {
    /// The wake phase for a request whose route resolved to stopped sandbox `id`: the
    /// upstream once the sandbox runs, with the request's permit; otherwise the answer
    /// (429 at the sandbox's limit, 503 `SANDBOX_WAKE_FAILED`, 504 `SANDBOX_WAKE_TIMEOUT`,
    /// 404 when the sandbox was destroyed meanwhile, 503 `SANDBOX_STARTING` for a browser
    /// after `wake_page_after`, 503 `SHUTTING_DOWN` on a graceful shutdown).
    pub(super) async fn wake(
        &self,
        held: Held,
        hook: &Arc<dyn WakeHook>,
        id: String,
        port: u16,
    ) -> Result<(Upstream, SandboxPermit), http::Response<Body>> {
        let inner = &self.inner;
        let accept = held.accept.as_ref();
        let host = held.host;
        let refuse = |why: GatewayRefusal| {
            inner.metrics.response(why.status().as_u16());
            why.respond(accept)
        };
        let id: Arc<str> = id.into();
        let permit = self.admit_sandbox(&id).map_err(refuse)?;
        let mut rx = match inner.registry.lifecycle.wakes.join(&id) {
            Joined::Waiting(rx) => rx,
            Joined::Started(tx) => {
                let rx = tx.subscribe();
                inner.metrics.wake_started();
                let wake = Wake {
                    registry: inner.registry.clone(),
                    hook: hook.clone(),
                    guard: inner.guard.clone(),
                    connect_timeout: inner.config.connect_timeout,
                    id: id.clone(),
                    port,
                    deadline: Instant::now() + inner.config.wake_timeout,
                };
                tokio::spawn(wake.run(tx));
                rx
            }
        };
        let page = GatewayRefusal::wants_html(accept).then_some(inner.config.wake_page_after);
        let outcome = tokio::select! {
            outcome = outcome(&mut rx) => outcome,
            () = sleep_or_never(page) => return Err(refuse(GatewayRefusal::SandboxStarting)),
            () = inner.graceful.cancelled() => return Err(refuse(GatewayRefusal::ShuttingDown)),
        };
        let why = match outcome {
            WakeOutcome::Running => {
                let resolution = match &host {
                    Some(host) => resolve(&inner.registry, host),
                    None => Resolution::NotPreview,
                };
                return match GatewayRefusal::of_resolution(resolution) {
                    Ok(upstream) => Ok((upstream, permit)),
                    Err(why) => Err(refuse(why)),
                };
            }
            WakeOutcome::Failed(reason) => {
                self.inner.metrics.response(503);
                return Err(GatewayRefusal::SandboxWakeFailed.respond_with_reason(accept, &reason));
            }
            WakeOutcome::TimedOut => GatewayRefusal::SandboxWakeTimeout,
            WakeOutcome::Destroyed => GatewayRefusal::InvalidToken,
        };
        Err(refuse(why))
    }
}

/// What a held request keeps of itself while it waits (a request is not `Sync`).
pub(super) struct Held {
    accept: Option<http::HeaderValue>,
    host: Option<String>,
}

impl Held {
    pub(super) fn of<B>(req: &Request<B>) -> Held {
        Held {
            accept: req.headers().get(ACCEPT).cloned(),
            host: request_host(req).map(str::to_owned),
        }
    }
}

/// The outcome a wake sent; a wake whose task ended without sending one (it panicked)
/// failed.
async fn outcome(rx: &mut watch::Receiver<Option<WakeOutcome>>) -> WakeOutcome {
    match rx.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone().unwrap_or(WakeOutcome::TimedOut),
        Err(_) => WakeOutcome::Failed("the wake hook panicked".into()),
    }
}

async fn sleep_or_never(after: Option<Duration>) {
    match after {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// One wake in progress.
struct Wake {
    registry: Arc<Registry>,
    hook: Arc<dyn WakeHook>,
    guard: UpstreamGuard,
    connect_timeout: Duration,
    id: Arc<str>,
    port: u16,
    deadline: Instant,
}

/// Ends a wake in the registry's table when its task ends, however it ends.
struct Finish {
    registry: Arc<Registry>,
    id: Arc<str>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        self.registry.lifecycle.wakes.finish(&self.id);
    }
}

impl Wake {
    async fn run(self, tx: watch::Sender<Option<WakeOutcome>>) {
        let _finish = Finish {
            registry: self.registry.clone(),
            id: self.id.clone(),
        };
        let outcome = self.wake().await;
        match &outcome {
            WakeOutcome::Running => tracing::info!(sandbox = %self.id, "sandbox woken"),
            other => tracing::warn!(sandbox = %self.id, outcome = ?other, "wake failed"),
        }
        let _ = tx.send(Some(outcome));
    }

    async fn wake(&self) -> WakeOutcome {
        let request = WakeRequest {
            sandbox_id: self.id.to_string(),
            port: self.port,
        };
        tokio::select! {
            () = self.destroyed() => return WakeOutcome::Destroyed,
            called = tokio::time::timeout_at(self.deadline, self.hook.wake(request)) => match called {
                Err(_) => return WakeOutcome::TimedOut,
                Ok(Err(reason)) => return WakeOutcome::Failed(reason),
                Ok(Ok(())) => {}
            },
        }
        if let Some(end) = self.port_answers().await {
            return end;
        }
        let (registry, id) = (self.registry.clone(), self.id.clone());
        let marked = tokio::task::spawn_blocking(move || {
            // Never made again once destroyed (a write would store it anew).
            let upstream = registry.sandbox(&id)?.upstream_host;
            Some(registry.put_sandbox(&id, None, &upstream, Some(SandboxStatus::Running)))
        })
        .await;
        match marked.map(|m| m.ok_or(())) {
            Ok(Err(())) => WakeOutcome::Destroyed,
            Ok(Ok(Ok(_))) => WakeOutcome::Running,
            Ok(Ok(Err(e))) => {
                WakeOutcome::Failed(format!("could not mark the sandbox running: {e}"))
            }
            Err(e) => WakeOutcome::Failed(format!("could not mark the sandbox running: {e}")),
        }
    }

    /// Waits until the sandbox no longer exists.
    async fn destroyed(&self) {
        while self.registry.sandbox(&self.id).is_some() {
            tokio::time::sleep(WAKE_POLL).await;
        }
    }

    /// Connects to the port (on the sandbox's upstream host as it is now: the hook may have
    /// moved it) until it answers; `None` then, or how the wake ends.
    async fn port_answers(&self) -> Option<WakeOutcome> {
        loop {
            let Some(sandbox) = self.registry.sandbox(&self.id) else {
                return Some(WakeOutcome::Destroyed);
            };
            let now = Instant::now();
            if now >= self.deadline {
                return Some(WakeOutcome::TimedOut);
            }
            let attempt = self.connect_timeout.min(self.deadline - now);
            match crate::connect::connect(
                &sandbox.upstream_host,
                self.port,
                Duration::ZERO,
                attempt,
                Some(&self.guard),
            )
            .await
            {
                Ok(_) => return None,
                Err(ConnectError::Forbidden(why)) => {
                    return Some(WakeOutcome::Failed(format!(
                        "the sandbox's upstream is not allowed: {why}"
                    )));
                }
                Err(_) => {}
            }
            tokio::time::sleep_until((Instant::now() + WAKE_POLL).min(self.deadline)).await;
        }
    }
}

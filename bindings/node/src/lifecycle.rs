//! Sandbox lifecycle in Node: `EventStream` (the core's events; `index.js` makes it an async
//! iterable) and the wake hook, a JavaScript async function the core awaits through a
//! threadsafe function.

use std::sync::Arc;

use napi::Env;
use napi::Status;
use napi::bindgen_prelude::{Function, Promise, PromiseRaw, Result};
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

use crate::records::{LifecycleEvent, WakeRequest};

/// The lifecycle events of a Portway from the moment `portway.events()` was called: `idle`,
/// `exposed`, `unexposed`, `running`, `stopped`, `destroyed`.
///
/// An async iterable: `for await (const event of portway.events()) { ... }`; leaving the
/// loop closes it. `next()` resolves to the next event, or `null` once closed.
#[napi]
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

#[napi]
impl EventStream {
    /// The next event; `null` once the stream is closed.
    #[napi(ts_return_type = "Promise<LifecycleEvent | null>")]
    pub fn next<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Option<LifecycleEvent>>> {
        let inner = self.inner.clone();
        crate::promise(
            env,
            async move { Ok(inner.next().await.map(LifecycleEvent::from)) },
            |_, event| Ok(event),
        )
    }

    /// Ends the stream, a `next()` waiting included. Idempotent.
    #[napi]
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether the stream was closed.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.inner.close();
    }
}

/// The wake hook's JavaScript side, called from any thread. Weak: a hook never keeps the
/// process alive on its own.
type WakeFn =
    ThreadsafeFunction<WakeRequest, Promise<Option<bool>>, WakeRequest, Status, false, true>;

/// The wake hook: an async function that starts a stopped sandbox.
pub(crate) struct NodeWakeHook {
    function: Arc<WakeFn>,
}

impl NodeWakeHook {
    pub(crate) fn new(function: &Function<'_, WakeRequest, Promise<Option<bool>>>) -> Result<Self> {
        let function = function
            .build_threadsafe_function::<WakeRequest>()
            .callee_handled::<false>()
            .weak::<true>()
            .build()?;
        Ok(NodeWakeHook {
            function: Arc::new(function),
        })
    }
}

impl portway::WakeHook for NodeWakeHook {
    fn wake(
        &self,
        request: portway::WakeRequest,
    ) -> std::pin::Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send>> {
        let function = self.function.clone();
        Box::pin(async move {
            // A synchronous throw, or a value that is no Promise, comes back as an error here
            // rather than as an uncaught exception.
            let answered = match function.call_async_catch(WakeRequest::from(request)).await {
                Ok(promise) => promise.await,
                Err(e) if e.status == Status::PendingException => {
                    return Err(reason(&e, "the wake hook threw"));
                }
                Err(e) => {
                    return Err(reason(&e, "the wake hook did not return a Promise"));
                }
            };
            match answered {
                Ok(Some(false)) => Err("the wake hook refused".into()),
                Ok(_) => Ok(()),
                // Resolved to something other than a boolean: started.
                Err(e) if e.status != Status::GenericFailure => Ok(()),
                Err(e) => Err(reason(&e, "the wake hook rejected")),
            }
        })
    }
}

/// An error's message, or `fallback` when it has none.
fn reason(e: &napi::Error, fallback: &str) -> String {
    let reason = e.reason.trim();
    if reason.is_empty() {
        fallback.to_owned()
    } else {
        reason.strip_prefix("Error: ").unwrap_or(reason).to_owned()
    }
}

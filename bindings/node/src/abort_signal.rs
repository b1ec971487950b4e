//! The `signal` option: an `AbortSignal` that fires cancels the Rust future (dropping it
//! closes whatever it had opened) and rejects the Promise with the signal's `reason`, as
//! `fetch` and Node's own APIs do. The listener is removed once the Promise settles, so a
//! long-lived signal collects no listeners.

use std::future::Future;

use napi::Env;
use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::{
    FnArgs, Function, FunctionRef, Object, ObjectRef, PromiseRaw, Result, ToNapiValue, Unknown,
};
use tokio_util::sync::CancellationToken;

use crate::{errors, promise};

/// Like [`crate::promise`], cancelled by `signal`.
pub(crate) fn abortable<'env, T, V, F, C>(
    env: &'env Env,
    signal: Option<&Object<'_>>,
    fut: F,
    to_js: C,
) -> Result<PromiseRaw<'env, V>>
where
    F: Future<Output = portway::Result<T>> + Send + 'static,
    T: Send + 'static,
    V: ToNapiValue,
    C: FnOnce(&'env Env, T) -> Result<V> + 'static,
{
    let Some(signal) = signal else {
        return promise(env, fut, to_js);
    };
    let token = CancellationToken::new();
    let watch = match Watch::start(env, signal, token.clone()) {
        Ok(watch) => watch,
        Err(_) => {
            return crate::rejected(
                env,
                portway::Error::InvalidArgument("the signal option must be an AbortSignal".into()),
            );
        }
    };
    let fut = async move {
        tokio::select! {
            biased;
            _ = token.cancelled() => None,
            out = fut => Some(out),
        }
    };
    env.spawn_future_with_callback(async move { Ok(fut.await) }, move |env, out| {
        let aborted = out.is_none();
        let reason = watch.finish(env, aborted)?;
        match (out, reason) {
            (Some(Ok(value)), _) => to_js(env, value),
            (Some(Err(err)), _) => Err(errors::to_js(env, err)),
            (None, Some(reason)) => Err(napi::Error::from(reason)),
            (None, None) => Err(napi::Error::from_reason("The operation was aborted")),
        }
    })
}

type Listener = FunctionRef<(), ()>;
/// `signal.addEventListener('abort', listener, { once: true })`.
type AddListener<'a> =
    Function<'a, FnArgs<(&'static str, Function<'a, (), ()>, Object<'a>)>, Unknown<'a>>;
/// `signal.removeEventListener('abort', listener)`.
type RemoveListener<'a> = Function<'a, FnArgs<(&'static str, Function<'a, (), ()>)>, Unknown<'a>>;

/// An `abort` listener on a signal, kept until the Promise settles.
struct Watch {
    signal: ObjectRef<false>,
    listener: Option<Listener>,
}

impl Watch {
    fn start(env: &Env, signal: &Object<'_>, token: CancellationToken) -> Result<Watch> {
        let aborted: bool = signal.get_named_property("aborted")?;
        let listener = if aborted {
            token.cancel();
            None
        } else {
            let listener = env.create_function_from_closure::<(), (), _>("onAbort", move |_| {
                token.cancel();
                Ok(())
            })?;
            let mut once = Object::new(env)?;
            once.set("once", true)?;
            let add: AddListener = signal.get_named_property("addEventListener")?;
            add.apply(signal, FnArgs::from(("abort", listener, once)))?;
            Some(listener.create_ref()?)
        };
        Ok(Watch {
            signal: signal.create_ref()?,
            listener,
        })
    }

    /// Removes the listener; the signal's `reason` when it fired.
    fn finish<'env>(self, env: &'env Env, aborted: bool) -> Result<Option<Unknown<'env>>> {
        let signal = self.signal.get_value(env)?;
        if let Some(listener) = self.listener {
            let remove: RemoveListener = signal.get_named_property("removeEventListener")?;
            remove.apply(signal, FnArgs::from(("abort", listener.borrow_back(env)?)))?;
        }
        let reason = if aborted {
            Some(signal.get_named_property::<Unknown>("reason")?)
        } else {
            None
        };
        self.signal.unref(env)?;
        Ok(reason)
    }
}

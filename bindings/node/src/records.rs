//! The plain objects the API returns, from the core's table ([`portway::records!`]) with the
//! core's fields in JavaScript names. Statuses and kinds are string unions in the typings;
//! `exposePort`'s result also carries `exposedAt`, the URL again under the name Cloudflare's
//! SDK examples read, and absent values of the exposed-port records are `null`.

use napi_derive::napi;

/// JavaScript objects from the core's record table. Each record's fields are walked one by
/// one (`@field`), each giving its declaration and its conversion; the last rule writes the
/// object type and its `From` conversion. A record's napi options and extra fields come first
/// (`[[options] [fields]]`).
macro_rules! node_records {
    () => {};
    ($(#[doc = $doc:literal])* ExposedPort($value:ident: $core:ty) { $($fields:tt)* } $($rest:tt)*) => {
        node_records!(@field [ExposedPort $value $core] [$(#[doc = $doc])*]
            [[use_nullable = true] [
                #[doc = " The preview URL again (what Cloudflare's SDK calls `exposedAt`)."]
                pub exposed_at: String,
            ]]
            [] [exposed_at: $value.url.clone(),]
            $($fields)*);
        node_records!($($rest)*);
    };
    ($(#[doc = $doc:literal])* ExposedPortInfo($value:ident: $core:ty) { $($fields:tt)* } $($rest:tt)*) => {
        node_records!(@field [ExposedPortInfo $value $core] [$(#[doc = $doc])*]
            [[use_nullable = true] []] [] [] $($fields)*);
        node_records!($($rest)*);
    };
    // The activity and event records: an absent value is `null`, as in the exposed ports.
    ($(#[doc = $doc:literal])* SandboxActivity($value:ident: $core:ty) { $($fields:tt)* } $($rest:tt)*) => {
        node_records!(@field [SandboxActivity $value $core] [$(#[doc = $doc])*]
            [[use_nullable = true] []] [] [] $($fields)*);
        node_records!($($rest)*);
    };
    ($(#[doc = $doc:literal])* PortActivity($value:ident: $core:ty) { $($fields:tt)* } $($rest:tt)*) => {
        node_records!(@field [PortActivity $value $core] [$(#[doc = $doc])*]
            [[use_nullable = true] []] [] [] $($fields)*);
        node_records!($($rest)*);
    };
    ($(#[doc = $doc:literal])* LifecycleEvent($value:ident: $core:ty) { $($fields:tt)* } $($rest:tt)*) => {
        node_records!(@field [LifecycleEvent $value $core] [$(#[doc = $doc])*]
            [[use_nullable = true] []] [] [] $($fields)*);
        node_records!($($rest)*);
    };
    ($(#[doc = $doc:literal])* $record:ident($value:ident: $core:ty) { $($fields:tt)* } $($rest:tt)*) => {
        node_records!(@field [$record $value $core] [$(#[doc = $doc])*] [[] []] [] [] $($fields)*);
        node_records!($($rest)*);
    };
    // A status or kind is a string, typed as the union of its names.
    (@field $h:tt $d:tt $o:tt $def:tt $conv:tt $(#[doc = $f:literal])* $field:ident: PortStatus => $read:expr, $($rest:tt)*) => {
        node_records!(@field $h $d $o $def $conv $(#[doc = $f])* $field: ["'active' | 'inactive'"] => $read.as_str(), $($rest)*);
    };
    (@field $h:tt $d:tt $o:tt $def:tt $conv:tt $(#[doc = $f:literal])* $field:ident: SandboxStatus => $read:expr, $($rest:tt)*) => {
        node_records!(@field $h $d $o $def $conv $(#[doc = $f])* $field: ["'running' | 'stopped'"] => $read.as_str(), $($rest)*);
    };
    (@field $h:tt $d:tt $o:tt $def:tt $conv:tt $(#[doc = $f:literal])* $field:ident: ResolutionKind => $read:expr, $($rest:tt)*) => {
        node_records!(@field $h $d $o $def $conv $(#[doc = $f])* $field: ["'not_preview' | 'denied' | 'stale' | 'upstream'"] => $read, $($rest)*);
    };
    (@field $head:tt $doc:tt $opts:tt [$($def:tt)*] [$($conv:tt)*]
        $(#[doc = $fdoc:literal])* $field:ident: [$ts:literal] => $read:expr, $($rest:tt)*) => {
        node_records!(@field $head $doc $opts
            [$($def)* $(#[doc = $fdoc])* #[napi(ts_type = $ts)] pub $field: String,]
            [$($conv)* $field: $read.to_owned(),]
            $($rest)*);
    };
    (@field $head:tt $doc:tt $opts:tt [$($def:tt)*] [$($conv:tt)*]
        $(#[doc = $fdoc:literal])* $field:ident: usize $(= $none:ident)? => $read:expr, $($rest:tt)*) => {
        node_records!(@field $head $doc $opts
            [$($def)* $(#[doc = $fdoc])* pub $field: u32,]
            [$($conv)* $field: u32::try_from($read).unwrap_or(u32::MAX),]
            $($rest)*);
    };
    // A count that may pass 2^32 (bytes): a number (exact up to 2^53).
    (@field $head:tt $doc:tt $opts:tt [$($def:tt)*] [$($conv:tt)*]
        $(#[doc = $fdoc:literal])* $field:ident: u64 $(= $none:ident)? => $read:expr, $($rest:tt)*) => {
        node_records!(@field $head $doc $opts
            [$($def)* $(#[doc = $fdoc])* pub $field: f64,]
            [$($conv)* $field: $read as f64,]
            $($rest)*);
    };
    // The rest as they are, written out token by token (napi-rs reads `Option` from the
    // type's tokens, which a `ty` fragment would hide).
    (@field $h:tt $d:tt $o:tt $def:tt $conv:tt $(#[doc = $f:literal])* $field:ident: Option<$ty:ident> $(= $none:ident)? => $read:expr, $($rest:tt)*) => {
        node_records!(@field $h $d $o $def $conv $(#[doc = $f])* $field: [Option<$ty>] => $read, $($rest)*);
    };
    (@field $h:tt $d:tt $o:tt $def:tt $conv:tt $(#[doc = $f:literal])* $field:ident: $ty:ident $(= $none:ident)? => $read:expr, $($rest:tt)*) => {
        node_records!(@field $h $d $o $def $conv $(#[doc = $f])* $field: [$ty] => $read, $($rest)*);
    };
    (@field $head:tt $doc:tt $opts:tt [$($def:tt)*] [$($conv:tt)*]
        $(#[doc = $fdoc:literal])* $field:ident: [$($ty:tt)*] => $read:expr, $($rest:tt)*) => {
        node_records!(@field $head $doc $opts
            [$($def)* $(#[doc = $fdoc])* pub $field: $($ty)*,]
            [$($conv)* $field: $read,]
            $($rest)*);
    };
    (@field [$record:ident $value:ident $core:ty] [$($doc:tt)*] [[$($opts:tt)*] [$($extra:tt)*]]
        [$($def:tt)*] [$($conv:tt)*]) => {
        $($doc)*
        #[napi(object, object_from_js = false, $($opts)*)]
        pub struct $record {
            $($def)*
            $($extra)*
        }

        impl From<$core> for $record {
            fn from($value: $core) -> Self {
                $record { $($conv)* }
            }
        }
    };
}

portway::records!(node_records);

/// What `getExposedPorts` returns, in the shape of Cloudflare's SDK.
#[napi(object, object_from_js = false)]
pub struct ExposedPorts {
    /// The exposed ports, sorted by port.
    pub ports: Vec<ExposedPortInfo>,
}

/// Every core record of `items` as its JavaScript object.
pub(crate) fn all<T, U: From<T>>(items: Vec<T>) -> Vec<U> {
    items.into_iter().map(U::from).collect()
}

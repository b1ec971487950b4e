//! JavaScript values to the core's types, where JavaScript allows more than the type: ports
//! given as anything, and numbers that must be whole, finite or non-negative.

use std::time::Duration;

use napi::bindgen_prelude::{FromNapiValue, Unknown};
use napi::{JsValue, ValueType};
use portway::options::TimeUnit;
use portway::{Error, Rules};

/// A port given as any JavaScript value. A number goes through the core's float check (a
/// fraction, NaN, an infinity or an out-of-range value is `INVALID_PORT`, never truncated);
/// a BigInt through its integer check; anything else is `INVALID_PORT` naming what it was.
pub(crate) fn port(rules: &Rules, value: &Unknown<'_>) -> portway::Result<u16> {
    let value_type = value.get_type().map_err(|_| rules.invalid_port("?"))?;
    match value_type {
        ValueType::Number => {
            let n = from_js::<f64>(value).ok_or_else(|| rules.invalid_port("?"))?;
            rules.validate_port_f64(n)
        }
        ValueType::BigInt => {
            let big = from_js::<napi::bindgen_prelude::BigInt>(value)
                .ok_or_else(|| rules.invalid_port("?"))?;
            let (n, lossless) = big.get_i64();
            if lossless {
                rules.validate_port(n)
            } else {
                Err(rules.invalid_port(&format!("{}n", big.get_i128().0)))
            }
        }
        ValueType::String => {
            let s = from_js::<String>(value).unwrap_or_default();
            Err(rules.invalid_port(&format!("'{}'", shorten(&s))))
        }
        ValueType::Boolean => {
            let b = from_js::<bool>(value).unwrap_or_default();
            Err(rules.invalid_port(&b.to_string()))
        }
        ValueType::Null => Err(rules.invalid_port("null")),
        ValueType::Undefined => Err(rules.invalid_port("undefined")),
        ValueType::Symbol => Err(rules.invalid_port("a symbol")),
        ValueType::Function => Err(rules.invalid_port("a function")),
        _ => Err(rules.invalid_port("an object")),
    }
}

/// What a JavaScript value is, for an error message: `a number`, `undefined`, `an object`...
pub(crate) fn kind_of(value: &Unknown<'_>) -> &'static str {
    match value.get_type() {
        Ok(ValueType::Number) => "a number",
        Ok(ValueType::BigInt) => "a bigint",
        Ok(ValueType::String) => "a string",
        Ok(ValueType::Boolean) => "a boolean",
        Ok(ValueType::Null) => "null",
        Ok(ValueType::Undefined) => "undefined",
        Ok(ValueType::Symbol) => "a symbol",
        Ok(ValueType::Function) => "a function",
        _ => "an object",
    }
}

/// The value as `T`, if it is one.
pub(crate) fn from_js<T: FromNapiValue>(value: &Unknown<'_>) -> Option<T> {
    let raw = value.value();
    // SAFETY: `raw` is a live value of this call's environment.
    unsafe { T::from_napi_value(raw.env, raw.value) }.ok()
}

/// A string shown in an error message, cut so a huge input cannot flood the message.
fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}...")
    }
}

/// An integer within `min..=max` (a port in a list, a status code, a token length).
pub(crate) fn integer(
    name: &str,
    value: f64,
    min: i64,
    max: i64,
    bad: fn(String) -> Error,
) -> portway::Result<i64> {
    if value.fract() == 0.0 && value >= min as f64 && value <= max as f64 {
        Ok(value as i64)
    } else {
        Err(bad(format!(
            "{name} must be a whole number from {min} to {max} (got {value})"
        )))
    }
}

/// A whole number, any size (the core checks the range: a reserved port, a token length, a
/// close code); a fraction, NaN or an infinity is refused here.
pub(crate) fn whole(name: &str, value: f64, bad: fn(String) -> Error) -> portway::Result<i64> {
    if value.fract() == 0.0 {
        // Saturates past i64's range, which the core then refuses as out of range.
        Ok(value as i64)
    } else {
        Err(bad(format!("{name} must be a whole number (got {value})")))
    }
}

/// A duration given in milliseconds, for an argument (`INVALID_ARGUMENT`: the core's check
/// and message).
pub(crate) fn millis(name: &str, ms: f64) -> portway::Result<Duration> {
    portway::options::duration(name, ms, TimeUnit::Milliseconds).map_err(Error::InvalidArgument)
}

//! Port rules: 1024..=65535, minus the reserved ports.

use std::fmt::Write as _;

use crate::error::{Error, Result};

/// The lowest port a sandbox service may be exposed on.
pub const MIN_PORT: u16 = 1024;

/// Checks a port given as any integer against `reserved` (sorted); values that would wrap
/// into a valid `u16` (such as 73616) are refused.
pub(crate) fn validate(port: i64, reserved: &[u16]) -> Result<u16> {
    match u16::try_from(port) {
        Ok(p) if is_valid(p, reserved) => Ok(p),
        _ => Err(invalid(&port.to_string(), reserved)),
    }
}

/// Checks a port given as a floating-point number (what JavaScript passes): a fraction, NaN
/// or an infinity is refused.
pub(crate) fn validate_f64(port: f64, reserved: &[u16]) -> Result<u16> {
    if port.fract() == 0.0 && (0.0..=65535.0).contains(&port) {
        validate(port as i64, reserved)
    } else {
        Err(invalid(&format_f64(port), reserved))
    }
}

/// Whether `port` may be exposed: at least [`MIN_PORT`] and not in `reserved` (sorted).
#[inline]
pub(crate) fn is_valid(port: u16, reserved: &[u16]) -> bool {
    port >= MIN_PORT && reserved.binary_search(&port).is_err()
}

/// The `INVALID_PORT` error for a value shown as `shown`, naming the `reserved` ports.
pub(crate) fn invalid(shown: &str, reserved: &[u16]) -> Error {
    let mut msg = format!("Invalid port number: {shown}. Must be 1024-65535");
    match reserved {
        [] => {}
        [3000] => msg.push_str(", excluding 3000 (sandbox control plane)"),
        ports => {
            msg.push_str(", excluding ");
            for (i, p) in ports.iter().enumerate() {
                if i > 0 {
                    msg.push_str(", ");
                }
                let _ = write!(msg, "{p}");
            }
            msg.push_str(" (reserved)");
        }
    }
    msg.push('.');
    Error::InvalidPort(msg)
}

/// Shows a float the way JavaScript does for the common cases (`8080.5`, `NaN`, `Infinity`).
fn format_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        v.to_string()
    }
}

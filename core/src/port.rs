//! Port rules: 1024..=65535, minus the reserved ports.

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::rules::Rules;

/// The lowest port a sandbox service may be exposed on.
pub const MIN_PORT: u16 = 1024;

impl Rules {
    /// Checks a port given as any integer; values that would wrap into a valid `u16`
    /// (such as 73616) are refused.
    ///
    /// ```
    /// let rules = portway::Rules::default();
    /// assert_eq!(rules.validate_port(8080)?, 8080);
    /// assert!(rules.validate_port(3000).is_err());
    /// assert!(rules.validate_port(73616).is_err());
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn validate_port(&self, port: i64) -> Result<u16> {
        match u16::try_from(port) {
            Ok(p) if self.is_valid_port(p) => Ok(p),
            _ => Err(self.invalid_port(&port.to_string())),
        }
    }

    /// Checks a port given as a floating-point number (what JavaScript passes): a fraction,
    /// NaN or an infinity is refused.
    ///
    /// ```
    /// let rules = portway::Rules::default();
    /// assert_eq!(rules.validate_port_f64(8080.0)?, 8080);
    /// assert!(rules.validate_port_f64(8080.5).is_err());
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn validate_port_f64(&self, port: f64) -> Result<u16> {
        if port.fract() == 0.0 && (0.0..=65535.0).contains(&port) {
            self.validate_port(port as i64)
        } else {
            Err(self.invalid_port(&format_f64(port)))
        }
    }

    /// Whether `port` may be exposed.
    ///
    /// ```
    /// assert!(portway::Rules::default().is_valid_port(8080));
    /// assert!(!portway::Rules::default().is_valid_port(1023));
    /// ```
    pub fn is_valid_port(&self, port: u16) -> bool {
        port >= MIN_PORT && self.reserved_ports.binary_search(&port).is_err()
    }

    /// The `INVALID_PORT` error for a value shown as `shown` (for a binding whose caller
    /// passed something that is not a number at all).
    ///
    /// ```
    /// let err = portway::Rules::default().invalid_port("'8080'");
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Invalid port number: '8080'. Must be 1024-65535, excluding 3000 (sandbox control plane)."
    /// );
    /// ```
    pub fn invalid_port(&self, shown: &str) -> Error {
        let mut msg = format!("Invalid port number: {shown}. Must be 1024-65535");
        match self.reserved_ports.as_slice() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        let r = Rules::default();
        for ok in [1024, 1025, 2999, 3001, 8080, 65535] {
            assert_eq!(r.validate_port(ok).unwrap() as i64, ok);
        }
        for bad in [
            i64::MIN,
            -1,
            0,
            80,
            1023,
            3000,
            65536,
            73616,
            -57456,
            i64::MAX,
        ] {
            assert_eq!(
                r.validate_port(bad).unwrap_err().code().as_str(),
                "INVALID_PORT"
            );
        }
    }

    #[test]
    fn floats() {
        let r = Rules::default();
        assert_eq!(r.validate_port_f64(65535.0).unwrap(), 65535);
        for bad in [
            f64::NAN,
            f64::INFINITY,
            -1.0,
            1023.0,
            8080.5,
            65536.0,
            1e300,
        ] {
            assert!(r.validate_port_f64(bad).is_err(), "{bad}");
        }
        assert!(
            r.validate_port_f64(f64::NAN)
                .unwrap_err()
                .to_string()
                .contains("NaN.")
        );
    }

    #[test]
    fn messages_follow_the_reserved_list() {
        let r = Rules::builder().reserved_ports([]).build().unwrap();
        assert_eq!(
            r.validate_port(1).unwrap_err().to_string(),
            "Invalid port number: 1. Must be 1024-65535."
        );
        assert_eq!(r.validate_port(3000).unwrap(), 3000);
        let r = Rules::builder()
            .reserved_ports([9000, 3000, 9000])
            .build()
            .unwrap();
        assert_eq!(
            r.validate_port(9000).unwrap_err().to_string(),
            "Invalid port number: 9000. Must be 1024-65535, excluding 3000, 9000 (reserved)."
        );
    }
}

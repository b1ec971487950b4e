//! Tokens: the secret part of a preview URL.
//!
//! Generated tokens are 16 characters of `[a-z0-9]` drawn uniformly from the operating
//! system's CSPRNG (about 82.7 bits). Custom tokens are `[a-z0-9_]`, 8 to 16 characters by
//! default. Tokens are compared in constant time.

use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// The longest token, custom or generated.
pub const MAX_TOKEN_LENGTH: usize = 16;

/// The length of a generated token.
pub const GENERATED_TOKEN_LENGTH: usize = 16;

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// The largest multiple of 36 that fits a byte: bytes at or above it are drawn again, so
/// every character is equally likely (no modulo bias).
const REJECT_FROM: u8 = 252;

/// A new random token: 16 characters of `[a-z0-9]` from the OS CSPRNG.
///
/// ```
/// let t = portway::generate_token();
/// assert_eq!(t.len(), 16);
/// assert!(t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
/// ```
///
/// # Panics
///
/// If the operating system's random number generator fails, which on a running Linux, macOS
/// or Windows system does not happen.
pub fn generate_token() -> String {
    let mut out = String::with_capacity(GENERATED_TOKEN_LENGTH);
    let mut buf = [0u8; 32];
    while out.len() < GENERATED_TOKEN_LENGTH {
        getrandom::fill(&mut buf).expect("the operating system's CSPRNG failed");
        for &b in &buf {
            if b < REJECT_FROM && out.len() < GENERATED_TOKEN_LENGTH {
                out.push(ALPHABET[(b % 36) as usize] as char);
            }
        }
    }
    out
}

/// Whether `token` has the shape of a token in a preview host: `[a-z0-9_]{1,16}`.
///
/// ```
/// assert!(portway::is_token_format("abc_def"));
/// assert!(!portway::is_token_format("ABC"));
/// assert!(!portway::is_token_format(""));
/// ```
pub fn is_token_format(token: &str) -> bool {
    (1..=MAX_TOKEN_LENGTH).contains(&token.len())
        && token
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// Compares two tokens in constant time (for equal lengths; the length itself is not secret,
/// being at most 16 and visible in every URL).
///
/// ```
/// assert!(portway::tokens_equal("token123", "token123"));
/// assert!(!portway::tokens_equal("token123", "token124"));
/// ```
pub fn tokens_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A token (at most [`MAX_TOKEN_LENGTH`] bytes) padded with zeros to its fixed size, the
/// form the gateway's route table keeps inline.
pub(crate) fn padded(token: &[u8]) -> [u8; MAX_TOKEN_LENGTH] {
    let mut out = [0u8; MAX_TOKEN_LENGTH];
    let len = token.len().min(MAX_TOKEN_LENGTH);
    out[..len].copy_from_slice(&token[..len]);
    out
}

/// Compares two padded tokens in constant time: one 128-bit difference, no early exit. (No
/// token character is a zero byte, so tokens of different lengths differ in their padding.)
#[inline]
pub(crate) fn padded_equal(a: &[u8; MAX_TOKEN_LENGTH], b: &[u8; MAX_TOKEN_LENGTH]) -> bool {
    let diff = u128::from_ne_bytes(*a) ^ u128::from_ne_bytes(*b);
    std::hint::black_box(diff) == 0
}

/// Checks a custom token: `min_length..=16` characters of `[a-z0-9_]`. The error message
/// never repeats the token, which is a secret.
pub(crate) fn validate_custom(token: &str, min_length: usize) -> Result<()> {
    let len = token.chars().count();
    if !(min_length..=MAX_TOKEN_LENGTH).contains(&len) {
        return Err(Error::InvalidTokenFormat(format!(
            "Invalid token: must be {} to {MAX_TOKEN_LENGTH} characters (got {len}).",
            min_length
        )));
    }
    if let Some(c) = token
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_'))
    {
        let shown = if c.is_ascii_uppercase() {
            "an uppercase letter".to_string()
        } else {
            format!("{c:?}")
        };
        return Err(Error::InvalidTokenFormat(format!(
            "Invalid token: only lowercase letters, digits and '_' are allowed (found {shown})."
        )));
    }
    Ok(())
}

/// Checks the token format used in preview hosts (`[a-z0-9_]{1,16}`).
pub(crate) fn check_format(token: &str) -> Result<()> {
    if is_token_format(token) {
        Ok(())
    } else {
        Err(Error::InvalidTokenFormat(
            "Invalid token: must be 1 to 16 characters of lowercase letters, digits and '_'."
                .into(),
        ))
    }
}

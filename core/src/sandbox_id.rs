//! Sandbox id rules: 1..=63 of `[a-z0-9-]`, no leading or trailing `-`, not reserved.

use std::borrow::Cow;

use crate::error::{Error, Result};

/// The longest sandbox id (one DNS label).
pub const MAX_SANDBOX_ID_LENGTH: usize = 63;

/// Checks a sandbox id against the `reserved` ids (lowercase) and returns it as stored:
/// lowercased when `normalize` is on; borrowed, without allocating, when it is valid as it is.
pub(crate) fn check<'a>(id: &'a str, reserved: &[String], normalize: bool) -> Result<Cow<'a, str>> {
    if is_lowercase_valid(id, reserved) {
        return Ok(Cow::Borrowed(id));
    }
    check_slow(id, reserved, normalize)
}

/// Whether `id` is a valid sandbox id as it is (so already lowercase), in one pass over its
/// bytes and without allocating: what [`check`] accepts unchanged.
#[inline]
pub(crate) fn is_lowercase_valid(id: &str, reserved: &[String]) -> bool {
    let b = id.as_bytes();
    (1..=MAX_SANDBOX_ID_LENGTH).contains(&b.len())
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        // `&` rather than `all`: no early exit, so the loop is vectorised.
        && b.iter()
            .fold(true, |ok, &c| ok & matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-'))
        && !reserved.iter().any(|r| r == id)
}

/// [`check`] for an id that is not valid as it is: lowercases it (with `normalize`) or names
/// the rule it breaks.
#[cold]
pub(crate) fn check_slow<'a>(
    id: &'a str,
    reserved: &[String],
    normalize: bool,
) -> Result<Cow<'a, str>> {
    let invalid =
        |why: String| Error::InvalidSandboxId(format!("Invalid sandbox id '{id}': {why}"));
    let len = id.chars().count();
    if len == 0 {
        return Err(invalid("must be 1 to 63 characters (got 0).".into()));
    }
    if len > MAX_SANDBOX_ID_LENGTH {
        return Err(invalid(format!(
            "must be 1 to 63 characters (got {len}); it becomes one DNS label of the preview host."
        )));
    }
    let id: Cow<'a, str> = if id.bytes().any(|b| b.is_ascii_uppercase()) {
        if !normalize {
            return Err(invalid(format!(
                "preview URLs need lowercase ids, because host names are case-insensitive. \
                 Use '{}' or turn on normalize_id.",
                id.to_ascii_lowercase()
            )));
        }
        Cow::Owned(id.to_ascii_lowercase())
    } else {
        Cow::Borrowed(id)
    };
    if let Some(c) = id
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        return Err(invalid(format!(
            "only lowercase letters, digits and '-' are allowed (found {c:?})."
        )));
    }
    if id.starts_with('-') || id.ends_with('-') {
        return Err(invalid("must not start or end with '-'.".into()));
    }
    if reserved.iter().any(|r| *r == *id) {
        return Err(invalid(format!("'{id}' is a reserved name.")));
    }
    Ok(id)
}

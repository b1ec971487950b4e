//! Sandbox id rules: 1..=63 of `[a-z0-9-]`, no leading or trailing `-`, not reserved.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::rules::Rules;

/// The longest sandbox id (one DNS label).
pub const MAX_SANDBOX_ID_LENGTH: usize = 63;

impl Rules {
    /// Checks a sandbox id and returns it as stored: lowercased when `normalize_id` is on.
    ///
    /// ```
    /// let rules = portway::Rules::default();
    /// assert_eq!(rules.validate_sandbox_id("550e8400-e29b-41d4")?, "550e8400-e29b-41d4");
    /// let err = rules.validate_sandbox_id("My-Box").unwrap_err();
    /// assert!(err.to_string().contains("lowercase"));
    /// assert!(rules.validate_sandbox_id("www").is_err());
    /// # Ok::<(), portway::Error>(())
    /// ```
    pub fn validate_sandbox_id(&self, id: &str) -> Result<String> {
        self.check_sandbox_id(id).map(Cow::into_owned)
    }

    /// [`Rules::validate_sandbox_id`] without allocating when the id is already valid.
    pub(crate) fn check_sandbox_id<'a>(&self, id: &'a str) -> Result<Cow<'a, str>> {
        if self.is_lowercase_sandbox_id(id) {
            return Ok(Cow::Borrowed(id));
        }
        self.check_sandbox_id_slow(id)
    }

    /// Whether `id` is a valid sandbox id as it is (so already lowercase), in one pass over
    /// its bytes and without allocating: what [`Rules::check_sandbox_id`] accepts unchanged.
    #[inline]
    pub(crate) fn is_lowercase_sandbox_id(&self, id: &str) -> bool {
        let b = id.as_bytes();
        (1..=MAX_SANDBOX_ID_LENGTH).contains(&b.len())
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
            // `&` rather than `all`: no early exit, so the loop is vectorised.
            && b.iter()
                .fold(true, |ok, &c| ok & matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-'))
            && !self.reserved_sandbox_ids.iter().any(|r| r == id)
    }

    /// [`Rules::check_sandbox_id`] for an id that is not valid as it is: lowercases it (with
    /// `normalize_id`) or names the rule it breaks.
    #[cold]
    fn check_sandbox_id_slow<'a>(&self, id: &'a str) -> Result<Cow<'a, str>> {
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
            if !self.normalize_id {
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
        if self.reserved_sandbox_ids.iter().any(|r| *r == *id) {
            return Err(invalid(format!("'{id}' is a reserved name.")));
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: &Rules, id: &str) -> String {
        r.validate_sandbox_id(id).unwrap_err().to_string()
    }

    #[test]
    fn rules_in_order() {
        let r = Rules::default();
        assert!(code(&r, "").contains("1 to 63 characters"));
        assert!(code(&r, &"a".repeat(64)).contains("1 to 63 characters"));
        assert_eq!(r.validate_sandbox_id(&"a".repeat(63)).unwrap().len(), 63);
        assert!(code(&r, "Box_1").contains("lowercase"));
        assert!(code(&r, "box_1").contains("only lowercase letters, digits and '-'"));
        assert!(code(&r, "-box").contains("start or end with '-'"));
        assert!(code(&r, "box-").contains("start or end with '-'"));
        assert!(code(&r, "admin").contains("reserved"));
        assert_eq!(r.validate_sandbox_id("a--b").unwrap(), "a--b");
    }

    proptest::proptest! {
        #[test]
        fn the_fast_check_accepts_what_the_full_check_keeps(
            id in "(www|WWW|admin)?([a-z0-9-]{0,64}|[a-zA-Z0-9_é-]{0,65})"
        ) {
            for r in [Rules::default(), Rules::builder().normalize_id(true).build().unwrap()] {
                let full = matches!(r.check_sandbox_id_slow(&id), Ok(Cow::Borrowed(_)));
                proptest::prop_assert_eq!(r.is_lowercase_sandbox_id(&id), full, "{:?}", id);
            }
        }
    }

    #[test]
    fn normalize() {
        let r = Rules::builder().normalize_id(true).build().unwrap();
        assert_eq!(r.validate_sandbox_id("My-Box").unwrap(), "my-box");
        assert!(code(&r, "WWW").contains("reserved"));
        assert!(code(&r, "Ünï").contains("only lowercase"));
    }
}

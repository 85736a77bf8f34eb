//! Environment slugs: the tag that splits cost and quota per end-customer.
//!
//! `EnvironmentSlug::parse` is the only way to get one, so a value of this type is valid by
//! construction and no other code re-checks the rule `^[a-z][a-z0-9_]+$`, 2 to 64 characters.

use std::fmt;

use serde_json::Value;

use crate::error::ApiError;

/// The longest slug accepted, in characters (all of them ASCII, so also in bytes).
pub const MAX_SLUG_LEN: usize = 64;

/// A valid environment slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvironmentSlug(String);

impl EnvironmentSlug {
    /// Parses a slug given in `field`, explaining what is wrong and, when one can be derived,
    /// which valid slug the caller probably meant (`Acme-Corp` becomes `acme_corp`).
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        match problem(raw) {
            None => Ok(EnvironmentSlug(raw.to_string())),
            Some(problem) => Err(refusal(field, raw, &problem)),
        }
    }

    /// Parses a JSON value that should hold a slug; anything but a string is refused with the
    /// same reason, since a number or an object where a slug belongs is the same mistake.
    pub fn parse_value(field: &str, value: &Value) -> Result<Self, ApiError> {
        match value {
            Value::String(raw) => Self::parse(field, raw),
            other => Err(ApiError::invalid(
                "INVALID_ENVIRONMENT_SLUG",
                format!(
                    "{field} must be a string such as 'acme_corp', not {}",
                    json_kind(other)
                ),
            )
            .with("field", field)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for EnvironmentSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names a JSON value's type the way a person reading an error would.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What is wrong with a candidate slug, in words, or `None` when it is valid.
fn problem(raw: &str) -> Option<String> {
    let length = raw.chars().count();
    if length == 0 {
        return Some("is empty".to_string());
    }

    if length < 2 {
        return Some("must be at least 2 characters long".to_string());
    }

    if length > MAX_SLUG_LEN {
        return Some(format!(
            "is {length} characters long; at most {MAX_SLUG_LEN} are allowed"
        ));
    }

    if let Some(bad) = raw
        .chars()
        .find(|c| !c.is_ascii_lowercase() && !c.is_ascii_digit() && *c != '_')
    {
        return Some(if bad.is_ascii_uppercase() {
            "may not contain upper-case letters".to_string()
        } else {
            format!("may not contain {}", describe_char(bad))
        });
    }

    if !raw.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some("must start with a lower-case letter".to_string());
    }

    None
}

fn refusal(field: &str, raw: &str, problem: &str) -> ApiError {
    let shown = abbreviate(raw);
    let suggestion = suggest(raw);
    let mut message = format!("{field} '{shown}' {problem}");
    if let Some(suggestion) = &suggestion {
        message.push_str(&format!("; use '{suggestion}'"));
    } else {
        message.push_str("; use lower-case letters, digits and '_', starting with a letter");
    }

    let mut error = ApiError::invalid("INVALID_ENVIRONMENT_SLUG", message)
        .with("field", field)
        .with("value", shown);
    if let Some(suggestion) = suggestion {
        error = error.with("suggestion", suggestion);
    }
    error
}

/// Quotes a character so that control characters and spaces are visible in a message.
fn describe_char(c: char) -> String {
    match c {
        ' ' => "spaces".to_string(),
        c if c.is_control() || !c.is_ascii() => format!("'{}'", c.escape_unicode()),
        c => format!("'{c}'"),
    }
}

/// Shortens a refused value for messages: an attacker's megabyte slug is not echoed back whole.
pub fn abbreviate(raw: &str) -> String {
    const SHOWN: usize = 80;
    let escaped: String = raw.chars().flat_map(char::escape_debug).collect();
    if escaped.chars().count() <= SHOWN {
        return escaped;
    }
    let head: String = escaped.chars().take(SHOWN).collect();
    format!("{head}...")
}

/// Derives the valid slug a caller most likely meant, when the input is plain ASCII text that
/// only breaks the rule by case, separators or surrounding noise.
fn suggest(raw: &str) -> Option<String> {
    if !raw.is_ascii() || raw.chars().any(|c| c.is_ascii_control()) {
        return None;
    }

    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }

    // Separators in front are noise, but a leading digit is part of the name: dropping it
    // would suggest a different customer, so no suggestion is made then.
    let mut out: String = out
        .trim_start_matches('_')
        .chars()
        .take(MAX_SLUG_LEN)
        .collect();
    while out.ends_with('_') {
        out.pop();
    }

    (problem(&out).is_none() && out != raw).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_fix_case_and_separators() {
        assert_eq!(suggest("Acme-Corp").as_deref(), Some("acme_corp"));
        assert_eq!(suggest("acme corp").as_deref(), Some("acme_corp"));
        assert_eq!(suggest("_acme").as_deref(), Some("acme"));
        assert_eq!(suggest("9lives"), None);
        assert_eq!(suggest("café"), None);
        assert_eq!(suggest("-"), None);
    }
}

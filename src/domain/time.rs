//! Time: milliseconds since the epoch inside, RFC 3339 UTC outside, and an injectable clock.

use chrono::{DateTime, SecondsFormat, Utc};

/// A source of the current time. Tests inject a manual one; the service uses the system clock.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch, UTC.
    fn now_ms(&self) -> i64;
}

/// The operating system's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis()
    }
}

/// Formats milliseconds since the epoch as RFC 3339 UTC with millisecond precision.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 time from a query or body field into milliseconds since the epoch.
pub fn parse_rfc3339(field: &str, raw: &str) -> Result<i64, crate::error::ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            crate::error::ApiError::invalid_field(
                field,
                format!(
                    "{field} '{}' is not an RFC 3339 time such as 2026-01-31T00:00:00Z ({e})",
                    crate::domain::slug::abbreviate(raw)
                ),
            )
            .with("value", crate::domain::slug::abbreviate(raw))
        })
}

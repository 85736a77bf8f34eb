//! Budget periods: calendar days, ISO weeks and months in a tenant's time zone.

use chrono::{Datelike, Days, Months, NaiveDate, TimeZone};
use chrono_tz::Tz;

/// A budget's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn parse(raw: &str) -> Option<Period> {
        match raw {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The period containing `at` (ms since the epoch): its start and end, in ms.
    pub fn bounds(self, zone: Tz, at: i64) -> (i64, i64) {
        let local = zone
            .timestamp_millis_opt(at)
            .single()
            .map(|t| t.date_naive());
        let date = local.unwrap_or_default();
        let start = match self {
            Period::Day => date,
            Period::Week => date - Days::new(date.weekday().num_days_from_monday() as u64),
            Period::Month => date.with_day(1).unwrap_or(date),
        };
        let end = match self {
            Period::Day => start + Days::new(1),
            Period::Week => start + Days::new(7),
            Period::Month => start + Months::new(1),
        };
        (midnight(zone, start), midnight(zone, end))
    }
}

/// The first instant of a local date. Where a time-zone change skips midnight, the day starts
/// at the first local time that exists.
fn midnight(zone: Tz, date: NaiveDate) -> i64 {
    let mut time = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..24 {
        if let Some(t) = zone.from_local_datetime(&time).earliest() {
            return t.timestamp_millis();
        }
        time += chrono::Duration::minutes(30);
    }
    time.and_utc().timestamp_millis()
}

/// Parses an IANA time zone name such as `Europe/Berlin`.
pub fn parse_zone(raw: &str) -> Option<Tz> {
    raw.parse::<Tz>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn months_follow_the_calendar_in_the_tenant_zone() {
        let (start, end) = Period::Month.bounds(Tz::UTC, ms("2026-02-14T10:00:00Z"));
        assert_eq!(
            (start, end),
            (ms("2026-02-01T00:00:00Z"), ms("2026-03-01T00:00:00Z"))
        );
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let (start, _) = Period::Month.bounds(berlin, ms("2026-02-28T23:30:00Z"));
        assert_eq!(start, ms("2026-02-28T23:00:00Z"), "already March in Berlin");
    }

    #[test]
    fn weeks_start_on_monday() {
        let (start, end) = Period::Week.bounds(Tz::UTC, ms("2026-12-03T19:00:00Z"));
        assert_eq!(
            (start, end),
            (ms("2026-11-30T00:00:00Z"), ms("2026-12-07T00:00:00Z"))
        );
    }
}

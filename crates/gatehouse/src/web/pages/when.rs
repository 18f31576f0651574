//! Times as the pages show them: a calendar date (UTC), "2 hours ago", "in 30 days". Pure
//! functions of two Unix times, so the wording is tested without a clock.

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const MONTH: i64 = 30 * DAY;
const YEAR: i64 = 365 * DAY;

/// `2025-03-04` (UTC); empty for a time outside the calendar.
pub fn date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_default()
}

/// `n unit` with the unit in the singular for one.
fn count(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// A span in the largest whole unit: `45 seconds`, `1 minute`, `2 hours`, `3 days`, `4 months`,
/// `2 years`.
fn span(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < MINUTE => count(s, "second"),
        s if s < HOUR => count(s / MINUTE, "minute"),
        s if s < DAY => count(s / HOUR, "hour"),
        s if s < MONTH => count(s / DAY, "day"),
        s if s < YEAR => count(s / MONTH, "month"),
        s => count(s / YEAR, "year"),
    }
}

/// How long ago `then` was: `just now` (under a minute, or a time a little in the future from
/// clock skew), else `5 minutes ago`, `2 hours ago`, `3 days ago`, ….
pub fn ago(then: i64, now: i64) -> String {
    let d = now.saturating_sub(then);
    if d < MINUTE {
        "just now".to_owned()
    } else {
        format!("{} ago", span(d))
    }
}

/// How long until `then` in days, to the nearest day (a token created for 30 days says
/// `30 days` a second later, not 29): `30 days`, `1 day`, or `less than a day`; `None` once it
/// has passed.
pub fn days_left(then: i64, now: i64) -> Option<String> {
    let d = then.saturating_sub(now);
    match d {
        d if d <= 0 => None,
        d if d < DAY => Some("less than a day".to_owned()),
        d => Some(count(d / DAY + i64::from(d % DAY >= DAY / 2), "day")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    #[test]
    fn ago_uses_the_largest_whole_unit() {
        let cases = [
            (0, "just now"),
            (59, "just now"),
            (60, "1 minute ago"),
            (119, "1 minute ago"),
            (120, "2 minutes ago"),
            (HOUR - 1, "59 minutes ago"),
            (HOUR, "1 hour ago"),
            (2 * HOUR + 30 * MINUTE, "2 hours ago"),
            (DAY - 1, "23 hours ago"),
            (DAY, "1 day ago"),
            (29 * DAY, "29 days ago"),
            (MONTH, "1 month ago"),
            (11 * MONTH, "11 months ago"),
            (YEAR, "1 year ago"),
            (3 * YEAR + DAY, "3 years ago"),
        ];
        for (delta, want) in cases {
            assert_eq!(ago(NOW - delta, NOW), want, "{delta} s");
        }
    }

    #[test]
    fn a_time_in_the_future_is_just_now() {
        assert_eq!(ago(NOW + 30, NOW), "just now");
        assert_eq!(ago(NOW + 10 * DAY, NOW), "just now");
        assert_eq!(ago(i64::MIN, i64::MAX), "292471208677 years ago");
    }

    #[test]
    fn days_left_rounds_to_the_nearest_day_and_ends_at_expiry() {
        assert_eq!(days_left(NOW + 30 * DAY, NOW).as_deref(), Some("30 days"));
        assert_eq!(
            days_left(NOW + 30 * DAY - 5, NOW).as_deref(),
            Some("30 days")
        );
        assert_eq!(
            days_left(NOW + 29 * DAY + 11 * HOUR, NOW).as_deref(),
            Some("29 days")
        );
        assert_eq!(
            days_left(NOW + DAY + 12 * HOUR, NOW).as_deref(),
            Some("2 days")
        );
        assert_eq!(days_left(NOW + DAY, NOW).as_deref(), Some("1 day"));
        assert_eq!(
            days_left(i64::MAX, 0).as_deref(),
            Some("106751991167301 days")
        );
        assert_eq!(
            days_left(NOW + HOUR, NOW).as_deref(),
            Some("less than a day")
        );
        assert_eq!(days_left(NOW, NOW), None);
        assert_eq!(days_left(NOW - DAY, NOW), None);
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(NOW), "2025-06-15");
        assert_eq!(date(i64::MAX), "");
    }
}

//! The current time as Unix seconds. Domain functions take `now` as an argument; only the edges
//! call this. The only place in this crate that reads the wall clock (`SystemTime::now` is
//! refused elsewhere by clippy's `disallowed-methods`, see `clippy.toml`).

#![allow(clippy::disallowed_methods)]

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The current time as Unix milliseconds (fixed rate-limit windows, jitter).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// RFC 3339 for API responses.
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

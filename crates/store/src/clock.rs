//! The wall clock, read only here (`SystemTime::now` is refused elsewhere by clippy's
//! `disallowed-methods`, see `clippy.toml`): the one time the store takes itself is when a
//! migration was applied; every other time is the caller's `now`.

#![allow(clippy::disallowed_methods)]

/// Unix seconds.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

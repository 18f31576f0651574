//! Failure counters with lockout and exponential backoff, kept in the database so that every
//! replica sees the same count: second-factor guesses per identity, and one-time-code requests
//! and wrong codes per e-mail address.
//!
//! The rules are pure ([`Record::claim`], [`Record::window`]); [`SelfService::claim_attempt`] and
//! friends store a [`Record`] as an expiring row of the flows table (`put_flow` / `get_flow`),
//! changed only by compare-and-swap (`insert_flow`, `replace_flow`), so attempts that arrive
//! together are each counted, whatever replica they hit.
//!
//! An attempt is counted *before* it is checked: a burst of simultaneous guesses cannot all pass
//! the check while the counter still reads zero. A success then clears the counter.

use serde::{Deserialize, Serialize};

use super::SelfService;
use crate::error::{Error, Result};

/// How many compare-and-swap rounds a counter update tries before it gives up (fail closed).
const CAS_ROUNDS: usize = 16;

/// When attempts are locked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts allowed before the first lockout.
    pub free: u32,
    /// The first lockout, in seconds; each further counted attempt doubles it.
    pub base_secs: i64,
    /// The longest lockout.
    pub max_secs: i64,
    /// A record this long after its last attempt (or the end of its lockout) is forgotten.
    pub forget_after_secs: i64,
}

/// One counter as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Attempts counted (and not cleared by a success).
    pub attempts: u32,
    /// Until when further attempts are refused (Unix seconds; 0: not locked).
    #[serde(default)]
    pub locked_until: i64,
    /// When the last attempt was counted.
    #[serde(default)]
    pub last_at: i64,
}

/// What counting an attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The attempt may be checked. `lock_started`: counting it started a lockout of this many
    /// seconds (so a failure of this attempt is the moment to tell the user).
    Allowed { lock_started: Option<i64> },
    /// Locked out until this time; the attempt is not checked and not counted.
    Locked { until: i64 },
}

impl Record {
    /// The record as it stands at `now`: a forgotten one reads as new.
    pub fn current(self, p: &Policy, now: i64) -> Record {
        if now >= self.last_at.max(self.locked_until) + p.forget_after_secs {
            Record::default()
        } else {
            self
        }
    }

    /// Counts one attempt at `now` under `p`: the new record and the verdict. While locked, the
    /// record is unchanged.
    pub fn claim(self, p: &Policy, now: i64) -> (Record, Claim) {
        let r = self.current(p, now);
        if r.locked_until > now {
            return (
                r.clone(),
                Claim::Locked {
                    until: r.locked_until,
                },
            );
        }
        let attempts = r.attempts.saturating_add(1);
        let mut next = Record {
            attempts,
            locked_until: r.locked_until,
            last_at: now,
        };
        let mut lock_started = None;
        if attempts >= p.free {
            let secs = lock_secs(p, attempts - p.free);
            next.locked_until = now + secs;
            lock_started = Some(secs);
        }
        (next, Claim::Allowed { lock_started })
    }

    /// When the row may be deleted.
    pub fn expires_at(&self, p: &Policy) -> i64 {
        self.last_at.max(self.locked_until) + p.forget_after_secs
    }
}

/// The lockout after `extra` attempts beyond the free ones: `base · 2^extra`, capped.
pub fn lock_secs(p: &Policy, extra: u32) -> i64 {
    let factor = 1i64.checked_shl(extra.min(40)).unwrap_or(i64::MAX);
    p.base_secs.saturating_mul(factor).min(p.max_secs).max(0)
}

/// A fixed-window count (codes sent, wrong codes) per key, in the same kind of row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub started_at: i64,
    pub count: u32,
}

impl Window {
    /// The window as it stands at `now` (a window older than `len` starts again at zero).
    pub fn current(self, len: i64, now: i64) -> Window {
        if now >= self.started_at + len {
            Window {
                started_at: now,
                count: 0,
            }
        } else {
            self
        }
    }
}

impl SelfService {
    /// Reads a counter row; an unreadable row is an error, never "no failures".
    async fn read_counter<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> Result<Option<(String, T)>> {
        let Some(raw) = self.store.get_flow(key).await? else {
            return Ok(None);
        };
        let v = serde_json::from_str(&raw).map_err(Error::corrupt("login-attempt counter", key))?;
        Ok(Some((raw, v)))
    }

    /// Writes `next` over what was read (`seen`), or inserts it if there was nothing; false when
    /// another writer came first.
    async fn swap_counter<T: Serialize>(
        &self,
        key: &str,
        seen: Option<&str>,
        next: &T,
        expires_at: i64,
    ) -> Result<bool> {
        let data = serde_json::to_string(next).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(match seen {
            Some(old) => self.store.replace_flow(key, old, &data, expires_at).await?,
            None => self.store.insert_flow(key, &data, expires_at).await?,
        })
    }

    /// Counts an attempt against the lockout counter `key` (see [`Record::claim`]).
    pub(super) async fn claim_attempt(&self, key: &str, p: &Policy, now: i64) -> Result<Claim> {
        for _ in 0..CAS_ROUNDS {
            let found = self.read_counter::<Record>(key).await?;
            let (seen, record) = match found {
                Some((raw, r)) => (Some(raw), r),
                None => (None, Record::default()),
            };
            let (next, claim) = record.claim(p, now);
            if let Claim::Locked { .. } = claim {
                return Ok(claim);
            }
            if self
                .swap_counter(key, seen.as_deref(), &next, next.expires_at(p))
                .await?
            {
                return Ok(claim);
            }
        }
        Err(Error::Busy)
    }

    /// Clears a lockout counter after a success.
    pub(super) async fn clear_attempts(&self, key: &str) -> Result<()> {
        self.store.delete_flow(key).await?;
        Ok(())
    }

    /// Counts one event in the window counter `key`; false (and nothing counted) when the
    /// window already holds `limit`.
    pub(super) async fn window_take(
        &self,
        key: &str,
        len: i64,
        limit: u32,
        now: i64,
    ) -> Result<bool> {
        for _ in 0..CAS_ROUNDS {
            let found = self.read_counter::<Window>(key).await?;
            let (seen, w) = match found {
                Some((raw, w)) => (Some(raw), w),
                None => (None, Window::default()),
            };
            let w = w.current(len, now);
            if w.count >= limit {
                return Ok(false);
            }
            let next = Window {
                started_at: w.started_at,
                count: w.count + 1,
            };
            if self
                .swap_counter(key, seen.as_deref(), &next, next.started_at + len)
                .await?
            {
                return Ok(true);
            }
        }
        Err(Error::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        free: 5,
        base_secs: 60,
        max_secs: 3600,
        forget_after_secs: 86_400,
    };

    #[test]
    fn five_attempts_then_a_doubling_lockout() {
        let mut r = Record::default();
        let now = 1_000;
        for i in 1..=4 {
            let (next, c) = r.claim(&P, now);
            assert_eq!(c, Claim::Allowed { lock_started: None }, "{i}");
            r = next;
        }
        let (next, c) = r.claim(&P, now);
        assert_eq!(
            c,
            Claim::Allowed {
                lock_started: Some(60)
            }
        );
        assert_eq!(next.locked_until, now + 60);
        r = next;
        let (same, c) = r.clone().claim(&P, now + 59);
        assert_eq!(c, Claim::Locked { until: now + 60 });
        assert_eq!(same, r, "a refused attempt is not counted");
        let (next, c) = r.claim(&P, now + 60);
        assert_eq!(
            c,
            Claim::Allowed {
                lock_started: Some(120)
            }
        );
        assert_eq!(next.locked_until, now + 60 + 120, "doubled");
        assert_eq!(lock_secs(&P, 30), 3600, "capped");
        assert_eq!(lock_secs(&P, u32::MAX), 3600);
    }

    #[test]
    fn an_old_record_is_forgotten() {
        let r = Record {
            attempts: 9,
            locked_until: 100,
            last_at: 90,
        };
        assert_eq!(r.clone().current(&P, 100 + 86_399).attempts, 9);
        assert_eq!(r.current(&P, 100 + 86_400), Record::default());
    }

    #[test]
    fn windows_restart() {
        let w = Window {
            started_at: 0,
            count: 5,
        };
        assert_eq!(w.clone().current(3600, 3599).count, 5);
        assert_eq!(w.current(3600, 3600).count, 0);
    }
}

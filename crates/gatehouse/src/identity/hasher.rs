//! Password hashing off the async runtime, with a cap on how many hashes run at once.
//!
//! An argon2id hash holds `memory_kib` of memory for its duration; a login flood must not turn
//! into unbounded memory (Kratos's users hit out-of-memory at 128 MB per hash). At most
//! `max_concurrent` hashes run, at most `max_queued` wait, and the rest are refused at once so
//! the caller can answer 429.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gatehouse_crypto::password::{self, Argon2Params, Verification};
use tokio::sync::Semaphore;

use crate::config::Argon2;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("too many password checks in progress")]
    Busy,
    #[error("{0}")]
    Password(#[from] password::PasswordError),
    #[error("hashing task failed: {0}")]
    Task(String),
}

pub struct PasswordHasher {
    params: Argon2Params,
    slots: Arc<Semaphore>,
    /// Checks running or waiting for a slot.
    in_flight: AtomicUsize,
    /// `max_concurrent + max_queued`.
    limit: usize,
}

impl PasswordHasher {
    pub fn new(cfg: &Argon2) -> PasswordHasher {
        PasswordHasher {
            params: Argon2Params {
                m_cost_kib: cfg.memory_kib,
                t_cost: cfg.iterations,
                p_cost: cfg.parallelism,
            },
            slots: Arc::new(Semaphore::new(cfg.max_concurrent.max(1))),
            in_flight: AtomicUsize::new(0),
            limit: cfg.max_concurrent.max(1) + cfg.max_queued,
        }
    }

    pub fn params(&self) -> &Argon2Params {
        &self.params
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(Argon2Params) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _slot = InFlight::enter(&self.in_flight, self.limit).ok_or(HashError::Busy)?;
        let permit = self.slots.clone().acquire_owned().await;
        let params = self.params;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(params)
        })
        .await
        .map_err(|e| HashError::Task(e.to_string()))
    }

    pub async fn hash(&self, plain: String) -> Result<String, HashError> {
        self.run(move |p| password::hash_password(&plain, &p))
            .await?
            .map_err(HashError::from)
    }

    pub async fn verify(&self, plain: String, stored: String) -> Result<Verification, HashError> {
        self.run(move |p| password::verify_password(&plain, &stored, &p))
            .await?
            .map_err(HashError::from)
    }

    /// The same work as a real check, for an identifier that does not exist.
    pub async fn dummy(&self, plain: String) -> Result<(), HashError> {
        self.run(move |p| password::dummy_verify(&plain, &p)).await
    }
}

/// Counts a check from admission until it returns or its caller goes away.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize, limit: usize) -> Option<InFlight<'a>> {
        if counter.fetch_add(1, Ordering::AcqRel) >= limit {
            counter.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(InFlight(counter))
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

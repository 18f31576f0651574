//! Password hashing off the async runtime, on a fixed pool of threads.
//!
//! An argon2id hash holds `memory_kib` of memory for its duration; a login flood must not turn
//! into unbounded memory (Kratos's users hit out-of-memory at 128 MB per hash). Hashes run on
//! `max_concurrent` dedicated threads — not tokio's blocking pool, whose many short-lived threads
//! each keep freed hash memory in their own allocator arena — so the memory for hashing stays
//! near `max_concurrent × memory_kib`. At most `max_queued` checks wait for a thread; the rest
//! are refused at once so the caller can answer 429.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use gatehouse_crypto::password::{self, Argon2Params, Verification};

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

type Job = Box<dyn FnOnce(Argon2Params) + Send>;

pub struct PasswordHasher {
    params: Argon2Params,
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Checks running or waiting for a thread.
    in_flight: AtomicUsize,
    /// `max_concurrent + max_queued`.
    limit: usize,
}

impl PasswordHasher {
    pub fn new(cfg: &Argon2) -> PasswordHasher {
        let params = Argon2Params {
            m_cost_kib: cfg.memory_kib,
            t_cost: cfg.iterations,
            p_cost: cfg.parallelism,
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..cfg.max_concurrent.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("gatehouse-hash-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while taking a job, not while hashing.
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(params),
                            Err(_) => return, // the hasher was dropped
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password-hashing thread");
            }
        }
        PasswordHasher {
            params,
            jobs: Mutex::new(tx),
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
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |p| {
            let _ = tx.send(f(p));
        });
        self.jobs
            .lock()
            .map_err(|_| HashError::Task("hashing pool poisoned".into()))?
            .send(job)
            .map_err(|_| HashError::Task("hashing pool stopped".into()))?;
        rx.await
            .map_err(|_| HashError::Task("hashing thread failed".into()))
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

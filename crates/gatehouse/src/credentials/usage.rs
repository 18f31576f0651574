//! `last_used_at` off the request path: a validation notes the use in memory (the newest per
//! credential wins), and a background task writes the batch every
//! `credentials.usage_flush_interval`, and once more at shutdown. Malformed tokens are counted
//! here too and audited as one event per interval, so refusing them never touches the database.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gatehouse_store::{CredentialUse, Store};
use serde_json::json;

use crate::audit::{AuditLog, Event, event};

pub struct UsageRecorder {
    store: Arc<dyn Store>,
    audit: AuditLog,
    pending: Mutex<HashMap<String, (i64, Option<String>)>>,
    malformed: AtomicU64,
}

/// Most uses kept between two flushes; beyond it, new credentials' uses wait for the next one.
const MAX_PENDING: usize = 100_000;

impl UsageRecorder {
    pub fn new(store: Arc<dyn Store>, audit: AuditLog) -> UsageRecorder {
        UsageRecorder {
            store,
            audit,
            pending: Mutex::default(),
            malformed: AtomicU64::new(0),
        }
    }

    pub fn record(&self, id: &str, at: i64, ip: Option<String>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let room = pending.len() < MAX_PENDING;
        match pending.get_mut(id) {
            Some(e) if e.0 > at => {}
            Some(e) => *e = (at, ip),
            None if room => {
                pending.insert(id.to_owned(), (at, ip));
            }
            None => {}
        }
    }

    pub fn malformed(&self) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes what was recorded since the last flush.
    pub async fn flush(&self) {
        let batch: Vec<CredentialUse> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending
                .drain()
                .map(|(id, (at, ip))| CredentialUse { id, at, ip })
                .collect()
        };
        if !batch.is_empty()
            && let Err(e) = self.store.record_credential_uses(&batch).await
        {
            tracing::warn!(error = %e, uses = batch.len(), "recording credential uses failed");
        }
        let malformed = self.malformed.swap(0, Ordering::Relaxed);
        if malformed > 0 {
            self.audit.record(
                event::CREDENTIAL_VALIDATION_FAILED,
                Event {
                    data: json!({ "reason": "malformed", "count": malformed }),
                    ..Event::default()
                },
            );
        }
    }

    /// Flushes every `interval` until `shutdown` resolves, then once more.
    pub async fn run(
        self: Arc<Self>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.flush().await,
                () = &mut shutdown => break,
            }
        }
        self.flush().await;
    }
}

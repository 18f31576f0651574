//! The queue worker: claims due messages, sends them, and records the outcome. Every replica runs
//! one (spawned by `serve` beside the janitor); the claim — `queued` → `processing` in one
//! conditional update — is what keeps two replicas from sending the same message. A message
//! left in `processing` by a replica that died mid-send is put back in the queue after
//! [`STUCK_AFTER`] seconds.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_store::CourierMessageRow;

use super::{Courier, Email, MessageStatus};
use crate::clock::now;
use crate::error::Result;

/// Messages claimed per poll.
const BATCH: i64 = 50;
/// Longest wait between two attempts, in seconds.
const MAX_BACKOFF: i64 = 3600;
/// A message `processing` for longer than this (seconds) is requeued.
pub const STUCK_AFTER: i64 = 600;
/// How often stuck messages are looked for.
const STUCK_CHECK: Duration = Duration::from_secs(60);

/// Seconds to wait after the `attempt`-th failed attempt: 1, 2, 4, 8, ... up to an hour.
pub fn backoff(attempt: i64) -> i64 {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    (1i64 << exp).min(MAX_BACKOFF)
}

impl Courier {
    /// Sends the messages due at `now`; how many were sent.
    pub async fn deliver_due(&self, now: i64) -> Result<usize> {
        let due = self.store.due_messages(now, BATCH).await?;
        let mut sent = 0;
        for m in due {
            if !self.store.claim_message(&m.id, now).await? {
                continue;
            }
            if self.deliver(&m).await? {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// One claimed message: sent, rescheduled or abandoned. Whether it was sent.
    async fn deliver(&self, m: &CourierMessageRow) -> Result<bool> {
        let attempt = m.send_count + 1;
        let rendered = match self.open(m) {
            Ok(r) => r,
            Err(e) => {
                // Retrying cannot help: the secret that sealed it is gone.
                tracing::warn!(message_id = %m.id, error = %e, "courier message abandoned");
                self.set_status(m, MessageStatus::Abandoned, m.send_count)
                    .await?;
                return Ok(false);
            }
        };
        let email = Email {
            to: m.recipient.clone(),
            subject: rendered.subject,
            body: rendered.body,
            html_body: rendered.html_body,
        };
        match self.mailer.send(&email).await {
            Ok(()) => {
                self.set_status(m, MessageStatus::Sent, attempt).await?;
                tracing::info!(message_id = %m.id, template_type = %m.template_type, "e-mail sent");
                Ok(true)
            }
            Err(e) if attempt > self.retries => {
                tracing::warn!(message_id = %m.id, template_type = %m.template_type, send_count = attempt, error = %e, "e-mail abandoned after every retry");
                self.set_status(m, MessageStatus::Abandoned, attempt)
                    .await?;
                Ok(false)
            }
            Err(e) => {
                let t = now();
                let next = t + backoff(attempt);
                tracing::warn!(message_id = %m.id, send_count = attempt, retry_in_secs = next - t, error = %e, "e-mail not sent; will retry");
                self.store
                    .update_message(&m.id, MessageStatus::Queued.as_str(), attempt, next, t)
                    .await?;
                Ok(false)
            }
        }
    }

    async fn set_status(
        &self,
        m: &CourierMessageRow,
        status: MessageStatus,
        send_count: i64,
    ) -> Result<()> {
        self.store
            .update_message(&m.id, status.as_str(), send_count, m.next_attempt_at, now())
            .await?;
        Ok(())
    }

    /// Requeues messages stuck in `processing`; how many.
    pub async fn requeue_stuck(&self, now: i64) -> Result<u64> {
        Ok(self
            .store
            .requeue_stuck_messages(now - STUCK_AFTER, now)
            .await?)
    }
}

/// Polls the queue every `courier.poll_interval` until `shutdown` resolves. A send in progress
/// finishes before the worker stops, so shutting down leaves no message in `processing`.
pub async fn run(courier: Arc<Courier>, shutdown: impl Future<Output = ()>) {
    enum Tick {
        Poll,
        Stuck,
    }
    tokio::pin!(shutdown);
    let period = courier.poll_interval.max(Duration::from_millis(10));
    let mut poll = tokio::time::interval(period);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stuck = tokio::time::interval(STUCK_CHECK);
    loop {
        let tick = tokio::select! {
            biased;
            _ = &mut shutdown => return,
            _ = stuck.tick() => Tick::Stuck,
            _ = poll.tick() => Tick::Poll,
        };
        match tick {
            Tick::Poll => {
                if let Err(e) = courier.deliver_due(now()).await {
                    tracing::warn!(error = %e, "courier: polling the queue failed");
                }
            }
            Tick::Stuck => match courier.requeue_stuck(now()).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    messages = n,
                    "courier: requeued messages stuck in processing"
                ),
                Err(e) => tracing::warn!(error = %e, "courier: requeueing stuck messages failed"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(
            (1..=5).map(backoff).collect::<Vec<_>>(),
            vec![1, 2, 4, 8, 16]
        );
        assert_eq!(backoff(13), 3600);
        assert_eq!(backoff(i64::MAX), 3600);
        assert_eq!(backoff(0), 1);
    }
}

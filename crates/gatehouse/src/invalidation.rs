//! Cache invalidation across replicas. Each replica keeps hot-path caches (whoami sessions,
//! credential verdicts, introspected tokens, OAuth 2.0 clients) for a bounded TTL; a revocation purges this
//! replica's entry at once and, when `redis.url` is set, is published on `redis.channel` so that
//! every other replica purges its copy too.
//!
//! Messages carry digests and ids only, never a secret:
//! `{"from":"<replica>","kind":"session"|"credential"|"credential_owner"|"token"|"client",`
//! `"keys":[...]}`.
//! Publishing never waits: messages go through a bounded queue to a publisher task (a full queue
//! drops the message and counts it). The subscriber reconnects with backoff; while it is
//! disconnected the caches still expire by their TTL, and on every (re)subscription it clears
//! them all, since messages sent in the gap were missed.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::credentials::CredentialCache;
use crate::metrics::{InvalidationLabels, Metrics, RedisOpLabels};
use crate::redis_conn::{self, LogThrottle};
use crate::sessions::SessionCache;

/// What a message names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Session token digests.
    Session,
    /// Credential secret digests.
    Credential,
    /// Credential owners (identity or organisation ids) whose every credential is purged.
    CredentialOwner,
    /// OAuth 2.0 token digests.
    Token,
    /// OAuth 2.0 client ids (changed or deleted clients).
    Client,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Session => "session",
            Kind::Credential => "credential",
            Kind::CredentialOwner => "credential_owner",
            Kind::Token => "token",
            Kind::Client => "client",
        }
    }

    /// Digests are 64 lower-case hex characters; owners are ids or service names.
    fn key_ok(self, k: &str) -> bool {
        match self {
            Kind::CredentialOwner | Kind::Client => {
                !k.is_empty() && k.len() <= 255 && !k.chars().any(char::is_control)
            }
            _ => k.len() == 64 && k.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalidation {
    pub kind: Kind,
    pub keys: Vec<String>,
}

/// Largest message accepted from the channel.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
/// Most keys in one message (longer lists are sent as several).
pub const MAX_KEYS: usize = 1000;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    from: String,
    kind: Kind,
    keys: Vec<String>,
}

/// The messages for one invalidation (one per [`MAX_KEYS`] keys).
pub fn encode(from: &str, m: &Invalidation) -> Vec<String> {
    m.keys
        .chunks(MAX_KEYS)
        .filter_map(|keys| {
            serde_json::to_string(&Wire {
                from: from.to_owned(),
                kind: m.kind,
                keys: keys.to_vec(),
            })
            .ok()
        })
        .collect()
}

/// A message from the channel: who sent it and what to purge, or why it is ignored.
pub fn decode(payload: &[u8]) -> Result<(String, Invalidation), &'static str> {
    if payload.len() > MAX_MESSAGE_BYTES {
        return Err("too large");
    }
    let w: Wire = serde_json::from_slice(payload).map_err(|_| "not an invalidation")?;
    if w.from.len() > 64 {
        return Err("bad sender");
    }
    if w.keys.len() > MAX_KEYS {
        return Err("too many keys");
    }
    if !w.keys.iter().all(|k| w.kind.key_ok(k)) {
        return Err("bad key");
    }
    Ok((
        w.from,
        Invalidation {
            kind: w.kind,
            keys: w.keys,
        },
    ))
}

/// The publishing side, held by the caches. Until [`run`] connects it (and always without
/// Redis) publishing does nothing.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<BusInner>,
}

struct BusInner {
    /// This process, so it can ignore its own messages.
    replica: String,
    tx: OnceLock<mpsc::Sender<Invalidation>>,
    metrics: Arc<Metrics>,
}

/// Messages waiting for the publisher; beyond this they are dropped (and counted).
const QUEUE: usize = 4096;

impl Bus {
    pub fn new(metrics: Arc<Metrics>) -> Bus {
        Bus {
            inner: Arc::new(BusInner {
                replica: uuid::Uuid::new_v4().simple().to_string(),
                tx: OnceLock::new(),
                metrics,
            }),
        }
    }

    /// Tells the other replicas to purge `keys`; never waits.
    pub fn publish(&self, kind: Kind, keys: &[String]) {
        let Some(tx) = self.inner.tx.get() else {
            return;
        };
        if keys.is_empty() {
            return;
        }
        let m = Invalidation {
            kind,
            keys: keys.to_vec(),
        };
        if tx.try_send(m).is_err() {
            self.count("dropped", kind);
        }
    }

    fn count(&self, direction: &'static str, kind: Kind) {
        self.inner
            .metrics
            .invalidations
            .get_or_create(&InvalidationLabels {
                direction,
                kind: kind.as_str(),
            })
            .inc();
    }

    fn redis_error(&self, op: &'static str) {
        self.inner
            .metrics
            .redis_errors
            .get_or_create(&RedisOpLabels { op })
            .inc();
    }
}

/// The local caches a message purges.
#[derive(Clone)]
pub struct Caches {
    pub sessions: SessionCache,
    pub credentials: CredentialCache,
    pub tokens: moka::sync::Cache<String, Arc<gatehouse_store::TokenRow>>,
    pub clients: moka::sync::Cache<String, Arc<crate::oauth2::clients::StoredClient>>,
}

impl Caches {
    /// Purges this replica's entries (and publishes nothing).
    pub fn apply(&self, m: &Invalidation) {
        match m.kind {
            Kind::Session => {
                for k in &m.keys {
                    self.sessions.invalidate_local(k);
                }
            }
            Kind::Credential => {
                for k in &m.keys {
                    self.credentials.invalidate_local(k);
                }
            }
            Kind::CredentialOwner => {
                for k in &m.keys {
                    self.credentials.purge_owner_local(k);
                }
            }
            Kind::Token => {
                for k in &m.keys {
                    self.tokens.invalidate(k);
                }
            }
            Kind::Client => {
                for k in &m.keys {
                    self.clients.invalidate(k);
                }
            }
        }
    }

    /// Forgets everything (after a gap in the subscription).
    pub fn clear(&self) {
        self.sessions.clear_local();
        self.credentials.clear_local();
        self.tokens.invalidate_all();
        self.clients.invalidate_all();
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How often an idle subscription is checked with a PING (a dead peer that sent no FIN).
const PING_EVERY: Duration = Duration::from_secs(15);

/// Connects the bus to Redis and applies the other replicas' messages until `shutdown`. Does
/// nothing when `redis.url` is unset.
pub async fn run(
    bus: Bus,
    caches: Caches,
    config: Arc<Config>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let client = match redis_conn::client(&config.redis) {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "cache invalidation across replicas is off");
            return;
        }
    };
    let conn = match redis_conn::manager(client.clone()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cache invalidation across replicas is off");
            return;
        }
    };
    let (tx, rx) = mpsc::channel(QUEUE);
    if bus.inner.tx.set(tx).is_err() {
        tracing::error!("the invalidation bus is already running");
        return;
    }
    let channel = config.redis.channel.clone();
    let publisher = tokio::spawn(publish_loop(bus.clone(), rx, conn, channel.clone()));
    tokio::select! {
        () = subscribe_loop(&bus, &caches, &client, &channel) => {}
        () = shutdown => {}
    }
    publisher.abort();
    bus.inner.metrics.redis_connected.set(0);
}

async fn publish_loop(
    bus: Bus,
    mut rx: mpsc::Receiver<Invalidation>,
    mut conn: redis::aio::ConnectionManager,
    channel: String,
) {
    let throttle = LogThrottle::default();
    while let Some(m) = rx.recv().await {
        for payload in encode(&bus.inner.replica, &m) {
            let mut attempt = 0u32;
            loop {
                let sent = tokio::time::timeout(
                    redis_conn::COMMAND_TIMEOUT * 2,
                    redis::cmd("PUBLISH")
                        .arg(&channel)
                        .arg(&payload)
                        .query_async::<i64>(&mut conn),
                )
                .await;
                let err = match sent {
                    Ok(Ok(_)) => {
                        bus.count("published", m.kind);
                        break;
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "timed out".to_owned(),
                };
                bus.redis_error("publish");
                attempt += 1;
                if attempt >= 3 {
                    bus.count("dropped", m.kind);
                    if throttle.due() {
                        tracing::warn!(error = %err, kind = m.kind.as_str(), "could not publish a cache invalidation to Redis: other replicas purge it when their cache TTL ends");
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100) * attempt).await;
            }
        }
    }
}

/// A little jitter so replicas do not reconnect in step.
fn jittered(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or_default();
    let spread = u32::try_from(d.as_millis() / 4).unwrap_or(u32::MAX).max(1);
    d + Duration::from_millis(u64::from(nanos % spread))
}

async fn subscribe_loop(bus: &Bus, caches: &Caches, client: &redis::Client, channel: &str) {
    use futures_util::StreamExt;
    let metrics = &bus.inner.metrics;
    let throttle = LogThrottle::default();
    let mut backoff = BACKOFF_MIN;
    let mut first = true;
    loop {
        let subscribed = tokio::time::timeout(redis_conn::CONNECT_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match subscribed {
            Ok(Ok(pubsub)) => {
                metrics.redis_connected.set(1);
                caches.clear();
                if first {
                    tracing::info!(channel, "subscribed to cache invalidations in Redis");
                } else {
                    tracing::info!(
                        channel,
                        "Redis is back: subscribed again, local caches cleared (invalidations sent meanwhile were missed)"
                    );
                }
                first = false;
                backoff = BACKOFF_MIN;
                let (mut sink, mut stream) = pubsub.split();
                let mut ping = tokio::time::interval(PING_EVERY);
                ping.reset();
                let why = loop {
                    tokio::select! {
                        msg = stream.next() => {
                            let Some(msg) = msg else { break "connection closed".to_owned() };
                            match decode(msg.get_payload_bytes()) {
                                Ok((from, m)) if from != bus.inner.replica => {
                                    caches.apply(&m);
                                    bus.count("received", m.kind);
                                }
                                Ok(_) => {}
                                Err(why) => {
                                    if throttle.due() {
                                        tracing::warn!(reason = why, channel, "ignored a message on the invalidation channel");
                                    }
                                }
                            }
                        }
                        _ = ping.tick() => {
                            match tokio::time::timeout(redis_conn::COMMAND_TIMEOUT * 4, sink.ping::<redis::Value>()).await {
                                Ok(Ok(_)) => {}
                                Ok(Err(e)) => break e.to_string(),
                                Err(_) => break "PING timed out".to_owned(),
                            }
                        }
                    }
                };
                metrics.redis_connected.set(0);
                bus.redis_error("subscribe");
                tracing::warn!(error = %why, "lost the Redis subscription: until it is back, revocations on other replicas reach this one when its cache TTLs end");
            }
            Ok(Err(e)) => {
                bus.redis_error("subscribe");
                if throttle.due() {
                    tracing::warn!(error = %e, "cannot subscribe to cache invalidations in Redis; retrying");
                }
            }
            Err(_) => {
                bus.redis_error("subscribe");
                if throttle.due() {
                    tracing::warn!("connecting to Redis timed out; retrying");
                }
            }
        }
        tokio::time::sleep(jittered(backoff)).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn messages_round_trip_and_split() {
        let m = Invalidation {
            kind: Kind::Session,
            keys: vec![DIGEST.to_owned(); MAX_KEYS + 1],
        };
        let out = encode("me", &m);
        assert_eq!(out.len(), 2);
        let (from, first) = decode(out[0].as_bytes()).expect("decodes");
        assert_eq!(from, "me");
        assert_eq!(first.kind, Kind::Session);
        assert_eq!(first.keys.len(), MAX_KEYS);
        assert!(out[0].contains("\"kind\":\"session\""), "{}", out[0]);
    }

    #[test]
    fn bad_messages_are_refused() {
        let bad = |s: &str| decode(s.as_bytes()).err();
        assert!(bad("nope").is_some());
        assert!(bad(r#"{"from":"a","kind":"session","keys":["short"]}"#).is_some());
        assert!(bad(r#"{"from":"a","kind":"session","keys":["0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"]}"#).is_some());
        assert!(bad(r#"{"from":"a","kind":"other","keys":[]}"#).is_some());
        assert!(bad(r#"{"from":"a","kind":"token","keys":[],"x":1}"#).is_some());
        assert!(bad(r#"{"from":"a","kind":"credential_owner","keys":["a\u0000"]}"#).is_some());
        assert!(decode(vec![b' '; MAX_MESSAGE_BYTES + 1].as_slice()).is_err());
        let ok = format!(r#"{{"from":"a","kind":"credential","keys":["{DIGEST}"]}}"#);
        assert!(decode(ok.as_bytes()).is_ok());
        let owner = r#"{"from":"a","kind":"credential_owner","keys":["billing-worker"]}"#;
        assert!(decode(owner.as_bytes()).is_ok());
    }
}

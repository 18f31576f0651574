//! Cache invalidation across processes. Each process keeps hot-path caches (whoami sessions,
//! credential verdicts, introspected tokens, OAuth 2.0 clients) for a bounded TTL; a revocation
//! purges this process's entry at once and is queued for the others:
//!
//! - **The log** (always): the writer appends it to `cache_invalidations` in the database, and every
//!   server reads the entries after the last one it applied every `invalidation.poll_interval`
//!   (250 ms). A CLI command writes its queue before it exits ([`Bus::flush`]). So a revocation
//!   made anywhere reaches every process sharing the database within a poll interval, with or
//!   without Redis. The janitor deletes entries after an hour.
//! - **Redis** (when `redis.url` is set): the same message is also published on `redis.channel`
//!   and applied by the subscribers at once.
//!
//! Messages carry digests and ids only, never a secret:
//! `{"from":"<replica>","kind":"session"|"credential"|"credential_owner"|"token"|"client",`
//! `"keys":[...]}`; a log entry holds the same fields in columns.
//! Publishing never waits: messages go through a bounded queue to the writer (a full queue drops
//! the message and counts it). The subscriber reconnects with backoff and clears the caches on
//! every (re)subscription; the log covers what Redis missed meanwhile. An unreadable log entry
//! clears the caches too (what it named is unknown).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_store::Store;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::metrics::{InvalidationLabels, Metrics, RedisOpLabels};
use crate::redis_conn::{self, LogThrottle};

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
    Ok((w.from, Invalidation::checked(w.kind, w.keys)?))
}

impl Invalidation {
    /// What to purge, as a message from Redis or an entry of the database log names it: at most
    /// [`MAX_KEYS`] keys, each of the shape its kind takes.
    fn checked(kind: Kind, keys: Vec<String>) -> Result<Invalidation, &'static str> {
        if keys.len() > MAX_KEYS {
            return Err("too many keys");
        }
        if !keys.iter().all(|k| kind.key_ok(k)) {
            return Err("bad key");
        }
        Ok(Invalidation { kind, keys })
    }
}

/// The publishing side, held by the caches. Publishing never waits: messages are queued for the
/// writer that [`run`] starts (or that [`Bus::flush`] drains, in a CLI command).
#[derive(Clone)]
pub struct Bus {
    inner: Arc<BusInner>,
}

struct BusInner {
    /// This process, so it can ignore its own messages.
    replica: String,
    tx: mpsc::Sender<Invalidation>,
    /// Taken by the writer; until then (and in a CLI command) [`Bus::flush`] drains it.
    rx: Mutex<Option<mpsc::Receiver<Invalidation>>>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

/// Messages waiting for the writer; beyond this they are dropped (and counted).
const QUEUE: usize = 4096;

impl Bus {
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Bus {
        let (tx, rx) = mpsc::channel(QUEUE);
        Bus {
            inner: Arc::new(BusInner {
                replica: uuid::Uuid::new_v4().simple().to_string(),
                tx,
                rx: Mutex::new(Some(rx)),
                store,
                metrics,
            }),
        }
    }

    /// Tells the other processes to purge `keys`; never waits.
    pub fn publish(&self, kind: Kind, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let m = Invalidation {
            kind,
            keys: keys.to_vec(),
        };
        if self.inner.tx.try_send(m).is_err() {
            self.count("dropped", kind);
        }
    }

    /// Writes what is queued to the invalidation log, when no writer runs (a CLI command, before
    /// it exits): the running servers purge it within `invalidation.poll_interval`. Returns how
    /// many messages could not be written.
    pub async fn flush(&self) -> usize {
        let Some(mut rx) = self.take_queue() else {
            return 0;
        };
        let mut failed = 0;
        while let Ok(m) = rx.try_recv() {
            if let Err(e) = self.append(&m).await {
                tracing::error!(error = %e, kind = m.kind.as_str(), "could not write a cache invalidation to the database: running servers purge it when their cache TTL ends");
                failed += 1;
            }
        }
        *self.queue_slot() = Some(rx);
        failed
    }

    fn queue_slot(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Receiver<Invalidation>>> {
        self.inner
            .rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take_queue(&self) -> Option<mpsc::Receiver<Invalidation>> {
        self.queue_slot().take()
    }

    /// Appends one message to the log (as several entries beyond [`MAX_KEYS`] keys).
    async fn append(&self, m: &Invalidation) -> Result<(), gatehouse_store::StoreError> {
        for keys in m.keys.chunks(MAX_KEYS) {
            let keys = serde_json::Value::from(keys.to_vec()).to_string();
            self.inner
                .store
                .append_invalidation(
                    crate::clock::now(),
                    &self.inner.replica,
                    m.kind.as_str(),
                    &keys,
                )
                .await?;
        }
        self.count("logged", m.kind);
        Ok(())
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

/// A cache that messages purge. Implemented beside each cache, so that this module knows no
/// cache type: the composition root (`App`) lists the caches and the kind of key each takes.
pub trait Purge: Send + Sync {
    /// Drops these keys on this process only.
    fn purge_local(&self, keys: &[String]);
    /// Drops everything on this process only (after a gap in what was heard).
    fn clear_local(&self);
}

/// Any string-keyed moka cache (introspected tokens, OAuth 2.0 clients).
impl<V: Clone + Send + Sync + 'static> Purge for moka::sync::Cache<String, V> {
    fn purge_local(&self, keys: &[String]) {
        for k in keys {
            self.invalidate(k);
        }
    }

    fn clear_local(&self) {
        self.invalidate_all();
    }
}

/// The local caches a message purges, each with the kind of key it takes.
#[derive(Clone, Default)]
pub struct Caches(Vec<(Kind, Arc<dyn Purge>)>);

impl Caches {
    pub fn with(mut self, kind: Kind, cache: Arc<dyn Purge>) -> Caches {
        self.0.push((kind, cache));
        self
    }

    /// Purges this process's entries (and publishes nothing).
    pub fn apply(&self, m: &Invalidation) {
        for (kind, cache) in &self.0 {
            if *kind == m.kind {
                cache.purge_local(&m.keys);
            }
        }
    }

    /// Forgets everything (after a gap in what was heard).
    pub fn clear(&self) {
        for (_, cache) in &self.0 {
            cache.clear_local();
        }
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How often an idle subscription is checked with a PING (a dead peer that sent no FIN).
const PING_EVERY: Duration = Duration::from_secs(15);

/// Runs the bus until `shutdown`: writes this process's messages to the invalidation log (and to
/// Redis when `redis.url` is set), follows the log every `invalidation.poll_interval`, and
/// applies what the other processes wrote (and, with Redis, what they publish, at once). At
/// shutdown, what is still queued is written to the log.
pub async fn run(
    bus: Bus,
    caches: Caches,
    config: Arc<Config>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let Some(mut rx) = bus.take_queue() else {
        tracing::error!("the invalidation bus is already running");
        return;
    };
    let redis = match redis_conn::client(&config.redis) {
        Ok(Some(client)) => match redis_conn::manager(client.clone()) {
            Ok(conn) => Some((client, conn)),
            Err(e) => {
                tracing::error!(error = %e, "cache invalidation through Redis is off: replicas follow the database log");
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "cache invalidation through Redis is off: replicas follow the database log");
            None
        }
    };
    let channel = config.redis.channel.clone();
    let (client, conn) = redis.unzip();
    let subscriber = async {
        match &client {
            Some(c) => subscribe_loop(&bus, &caches, c, &channel).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = write_loop(&bus, &mut rx, conn, &channel) => {}
        () = follow_log(&bus, &caches, config.invalidation.poll_interval.0) => {}
        () = subscriber => {}
        () = shutdown => {}
    }
    bus.inner.metrics.redis_connected.set(0);
    *bus.queue_slot() = Some(rx);
    let _ = tokio::time::timeout(Duration::from_secs(2), bus.flush()).await;
}

/// Writes queued messages: to Redis first (the fast path), then to the database log.
async fn write_loop(
    bus: &Bus,
    rx: &mut mpsc::Receiver<Invalidation>,
    mut conn: Option<redis::aio::ConnectionManager>,
    channel: &str,
) {
    let throttle = LogThrottle::default();
    while let Some(m) = rx.recv().await {
        if let Some(conn) = conn.as_mut() {
            publish_redis(bus, &m, conn, channel, &throttle).await;
        }
        let mut attempt = 0u32;
        while let Err(e) = bus.append(&m).await {
            attempt += 1;
            if attempt >= 3 {
                bus.count("dropped", m.kind);
                if throttle.due() {
                    tracing::error!(error = %e, kind = m.kind.as_str(), "could not write a cache invalidation to the database: other processes purge it when their cache TTL ends");
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(100) * attempt).await;
        }
    }
}

async fn publish_redis(
    bus: &Bus,
    m: &Invalidation,
    conn: &mut redis::aio::ConnectionManager,
    channel: &str,
    throttle: &LogThrottle,
) {
    for payload in encode(&bus.inner.replica, m) {
        let mut attempt = 0u32;
        loop {
            let sent = tokio::time::timeout(
                redis_conn::COMMAND_TIMEOUT * 2,
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(&payload)
                    .query_async::<i64>(conn),
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
                if throttle.due() {
                    tracing::warn!(error = %err, kind = m.kind.as_str(), "could not publish a cache invalidation to Redis: other replicas read it from the database log");
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(100) * attempt).await;
        }
    }
}

/// How long an id above the highest one seen may still appear: on PostgreSQL a sequence value is
/// taken when an insert starts and becomes visible when it commits, so a slow insert can show up
/// after a later one. Log entries are single-statement inserts; five seconds is far beyond them.
const SETTLE: Duration = Duration::from_secs(5);
/// Most entries read in one query beyond those already applied.
const PAGE: usize = 500;
/// Most ids remembered above the floor; beyond this the caches are cleared and reading resumes
/// at the end of the log.
const MAX_SEEN: usize = 50_000;

/// Which log entries this process has applied. Every id up to `floor` is done; above it, `seen`
/// holds the ids applied so far, so an entry that becomes visible late is still applied once.
#[derive(Debug)]
struct Cursor {
    floor: i64,
    seen: std::collections::BTreeSet<i64>,
    /// (when, highest id seen then), oldest first: the floor rises to an id once it is
    /// [`SETTLE`] old.
    marks: std::collections::VecDeque<(Instant, i64)>,
}

impl Cursor {
    fn new(start: i64) -> Cursor {
        Cursor {
            floor: start,
            seen: std::collections::BTreeSet::new(),
            marks: std::collections::VecDeque::new(),
        }
    }

    /// Whether entry `id` is new (and is now counted as applied).
    fn take(&mut self, id: i64) -> bool {
        id > self.floor && self.seen.insert(id)
    }

    /// After a read at `now`: raises the floor to the highest id seen [`SETTLE`] ago.
    fn settle(&mut self, now: Instant) {
        let top = self.seen.last().copied().unwrap_or(self.floor);
        if self.marks.back().is_none_or(|&(_, id)| id < top) {
            self.marks.push_back((now, top));
        }
        while let Some(&(at, id)) = self.marks.front() {
            if now.saturating_duration_since(at) < SETTLE {
                break;
            }
            self.floor = self.floor.max(id);
            self.marks.pop_front();
        }
        self.seen = self.seen.split_off(&(self.floor + 1));
    }

    /// Starts again after `end` (everything cached was cleared).
    fn reset(&mut self, end: i64) {
        *self = Cursor::new(end);
    }
}

/// Reads the invalidation log every `poll` and applies the entries other processes wrote.
async fn follow_log(bus: &Bus, caches: &Caches, poll: Duration) {
    let store = &bus.inner.store;
    let throttle = LogThrottle::default();
    let mut cursor = loop {
        match store.last_invalidation_id().await {
            Ok(id) => break Cursor::new(id),
            Err(e) => {
                if throttle.due() {
                    tracing::warn!(error = %e, "cannot read the cache invalidation log; retrying");
                }
                tokio::time::sleep(poll).await;
            }
        }
    };
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = read_log(bus, caches, &mut cursor).await
            && throttle.due()
        {
            tracing::warn!(error = %e, "cannot read the cache invalidation log: revocations made elsewhere are applied when it answers again (or when cache TTLs end)");
        }
    }
}

/// One read of the log: applies every new entry, page by page.
async fn read_log(
    bus: &Bus,
    caches: &Caches,
    cursor: &mut Cursor,
) -> Result<(), gatehouse_store::StoreError> {
    let store = &bus.inner.store;
    for _ in 0..20 {
        let limit = cursor.seen.len() + PAGE;
        let rows = store
            .invalidations_after(cursor.floor, i64::try_from(limit).unwrap_or(i64::MAX))
            .await?;
        let full = rows.len() >= limit;
        for row in rows {
            if !cursor.take(row.id) || row.origin == bus.inner.replica {
                continue;
            }
            match log_entry(&row) {
                Ok(m) => {
                    caches.apply(&m);
                    bus.count("received", m.kind);
                }
                Err(why) => {
                    // What it named is unknown: forgetting everything is the safe reading.
                    tracing::error!(
                        id = row.id,
                        reason = why,
                        "an unreadable cache invalidation log entry: local caches cleared"
                    );
                    caches.clear();
                }
            }
        }
        cursor.settle(Instant::now());
        if cursor.seen.len() > MAX_SEEN {
            break;
        }
        if !full {
            return Ok(());
        }
    }
    // Too far behind to read entry by entry: clear everything and go on from the end.
    tracing::warn!("the cache invalidation log grew faster than it was read: local caches cleared");
    caches.clear();
    cursor.reset(store.last_invalidation_id().await?);
    Ok(())
}

/// A log entry as a message, validated as strictly as one from Redis.
fn log_entry(row: &gatehouse_store::InvalidationRow) -> Result<Invalidation, &'static str> {
    let kind: Kind = serde_json::from_value(serde_json::Value::String(row.kind.clone()))
        .map_err(|_| "unknown kind")?;
    let keys: Vec<String> =
        serde_json::from_str(&row.keys).map_err(|_| "keys are not a list of strings")?;
    Invalidation::checked(kind, keys)
}

/// A little jitter so replicas do not reconnect in step.
fn jittered(d: Duration) -> Duration {
    let spread = u64::try_from(d.as_millis() / 4).unwrap_or(u64::MAX).max(1);
    let now = u64::try_from(crate::clock::now_ms()).unwrap_or_default();
    d + Duration::from_millis(now % spread)
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

    #[test]
    fn the_cursor_applies_each_entry_once_and_waits_for_late_ids() {
        let t0 = Instant::now();
        let mut c = Cursor::new(10);
        assert!(!c.take(10), "at or below the start: already done");
        assert!(c.take(12));
        assert!(!c.take(12), "once");
        c.settle(t0);
        // 11 was taken before 12 but committed after it: still applied when it shows up.
        assert!(c.take(11));
        c.settle(t0 + Duration::from_secs(1));
        assert_eq!(c.floor, 10, "the floor waits until ids are SETTLE old");
        c.settle(t0 + SETTLE);
        assert_eq!(c.floor, 12);
        assert!(
            c.seen.is_empty(),
            "nothing at or below the floor is remembered"
        );
        assert!(!c.take(11) && !c.take(12));
        assert!(c.take(13));
    }

    #[test]
    fn log_entries_are_checked_like_messages() {
        let row = |kind: &str, keys: &str| gatehouse_store::InvalidationRow {
            id: 1,
            at: 0,
            origin: "other".into(),
            kind: kind.into(),
            keys: keys.into(),
        };
        let ok = log_entry(&row("session", &format!(r#"["{DIGEST}"]"#))).expect("valid");
        assert_eq!(ok.kind, Kind::Session);
        assert_eq!(ok.keys, vec![DIGEST.to_owned()]);
        assert!(log_entry(&row("credential_owner", r#"["billing-worker"]"#)).is_ok());
        assert!(log_entry(&row("nope", "[]")).is_err());
        assert!(log_entry(&row("token", r#"["../x"]"#)).is_err());
        assert!(log_entry(&row("token", "{}")).is_err());
    }
}

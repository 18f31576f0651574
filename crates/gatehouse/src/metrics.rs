//! Prometheus metrics, served on the admin listener at `/metrics`: requests and latency per
//! listener, route and status, and tokens issued per grant type. Routes are the matched route
//! templates (`/admin/clients/{id}`), never raw paths, so label sets stay bounded.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub listener: &'static str,
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub listener: &'static str,
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RedisOpLabels {
    /// `subscribe`, `publish` or `rate_limit`.
    pub op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InvalidationLabels {
    /// `logged` (in the database log), `published` (to Redis), `received` (from another process)
    /// or `dropped` (the queue was full, or the log could not be written).
    pub direction: &'static str,
    /// `session`, `credential`, `credential_owner`, `token` or `client`.
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// `global`, `ip`, `user` or `rule`.
    pub scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantLabels {
    pub grant_type: String,
}

pub struct Metrics {
    /// Unique per instance (tests run several servers in one process).
    id: u64,
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub tokens_issued: Family<GrantLabels, Counter>,
    /// 1 while the invalidation subscriber is connected to Redis.
    pub redis_connected: Gauge,
    pub redis_errors: Family<RedisOpLabels, Counter>,
    pub invalidations: Family<InvalidationLabels, Counter>,
    /// Decisions refused with 429, by the limit that refused them.
    pub rate_limited: Family<LimitLabels, Counter>,
    /// Decisions counted on this replica only because Redis could not be reached.
    pub rate_limit_local_fallback: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
        });
        let tokens_issued = Family::<GrantLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            latency.clone(),
        );
        registry.register(
            "tokens_issued",
            "Token responses issued by the token endpoint",
            tokens_issued.clone(),
        );
        let redis_connected = Gauge::default();
        let redis_errors = Family::<RedisOpLabels, Counter>::default();
        let invalidations = Family::<InvalidationLabels, Counter>::default();
        let rate_limited = Family::<LimitLabels, Counter>::default();
        let rate_limit_local_fallback = Counter::default();
        registry.register(
            "redis_connected",
            "1 while the cache-invalidation subscriber is connected to Redis",
            redis_connected.clone(),
        );
        registry.register(
            "redis_errors",
            "Failed Redis operations (subscribe, publish, rate_limit)",
            redis_errors.clone(),
        );
        registry.register(
            "cache_invalidations",
            "Cache invalidations exchanged with the other replicas",
            invalidations.clone(),
        );
        registry.register(
            "gateway_rate_limited",
            "Decisions refused with 429, by limit",
            rate_limited.clone(),
        );
        registry.register(
            "gateway_rate_limit_local_fallback",
            "Decisions counted on this replica only because Redis was unreachable",
            rate_limit_local_fallback.clone(),
        );
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Metrics {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            registry,
            requests,
            latency,
            tokens_issued,
            redis_connected,
            redis_errors,
            invalidations,
            rate_limited,
            rate_limit_local_fallback,
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Middleware state: which listener the router serves.
#[derive(Clone)]
pub struct Observe {
    pub metrics: Arc<Metrics>,
    pub listener: &'static str,
}

/// Route templates as `&'static str`: a handful per router, leaked once each, so labelling a
/// request allocates nothing.
fn intern(route: &str) -> &'static str {
    static ROUTES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let set = ROUTES.get_or_init(Default::default);
    if let Some(r) = set.read().ok().and_then(|s| s.get(route).copied()) {
        return r;
    }
    let Ok(mut w) = set.write() else {
        return "unknown";
    };
    if let Some(r) = w.get(route) {
        return r;
    }
    if w.len() >= 512 {
        return "other";
    }
    let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
    w.insert(leaked);
    leaked
}

fn method_label(m: &axum::http::Method) -> &'static str {
    match *m {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::PATCH => "PATCH",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Handles for one (registry, listener, method, route, status), cloned out of the families once
/// per worker thread so the hot path does no lock and no label hashing of strings.
type HandleKey = (u64, usize, usize, usize, u16);

thread_local! {
    static HANDLES: std::cell::RefCell<std::collections::HashMap<HandleKey, (Counter, Histogram)>> = Default::default();
}

fn handles(
    o: &Observe,
    method: &'static str,
    route: &'static str,
    status: u16,
) -> (Counter, Histogram) {
    let key = (
        o.metrics.id,
        o.listener.as_ptr() as usize,
        method.as_ptr() as usize,
        route.as_ptr() as usize,
        status,
    );
    HANDLES.with(|h| {
        let mut h = h.borrow_mut();
        if h.len() > 4096 {
            h.clear();
        }
        h.entry(key)
            .or_insert_with(|| {
                let c = o
                    .metrics
                    .requests
                    .get_or_create(&RequestLabels {
                        listener: o.listener,
                        method,
                        route,
                        status,
                    })
                    .clone();
                let l = o
                    .metrics
                    .latency
                    .get_or_create(&RouteLabels {
                        listener: o.listener,
                        route,
                    })
                    .clone();
                (c, l)
            })
            .clone()
    })
}

pub async fn observe(State(o): State<Observe>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| intern(p.as_str()));
    let method = method_label(req.method());
    let resp = next.run(req).await;
    let (count, latency) = handles(&o, method, route, resp.status().as_u16());
    latency.observe(started.elapsed().as_secs_f64());
    count.inc();
    resp
}

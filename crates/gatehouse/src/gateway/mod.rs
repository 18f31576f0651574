//! The access gateway's decision side: Oathkeeper-compatible rules (loaded from files, reloaded
//! when they change, the previous rules kept when a change is invalid) and the decision for a
//! forwarded request (`decide`). The web layer serves it at `/decisions/*` on its own listener.
//!
//! The rules in force are one `Rules` snapshot: the matched rules and, beside each, its handlers
//! compiled when the file loaded (`handlers`), swapped together on reload.
//!
//! The files import downwards only (no circle): `model` is the vocabulary every other file uses
//! (a leaf); `extract` finds credentials in a request; `authn/` holds the authenticators, and
//! `authz`, `mutate` and `refuse` the other phases of a decision, with the remote handlers
//! (`remote_json`, `hydrator`, `id_token`) beside them; `handlers` compiles a rule into them
//! (the one file that knows them all); `decide` runs the pipeline; `load` reads the rule
//! repositories; `ratelimit`, `client_ip`, `outbound`, `jwks` and `template` are helpers.

pub mod authn;
pub mod authz;
pub mod decide;
pub mod extract;
pub mod handlers;
pub mod hydrator;
pub mod id_token;
pub mod jwks;
pub mod load;
pub mod model;
pub mod mutate;
pub mod outbound;
pub mod ratelimit;
pub mod refuse;
pub mod remote_json;
pub mod template;

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::credentials::CredentialService;
use crate::oauth2::Provider;
use crate::sessions::SessionService;

pub use load::Rules;

pub struct Gateway {
    pub config: Arc<Config>,
    pub rules: ArcSwap<Rules>,
    pub sessions: Arc<SessionService>,
    pub provider: Arc<Provider>,
    pub credentials: Arc<CredentialService>,
    /// Calls to URLs the operator configured (rule repositories, remote handlers, JWKS URLs):
    /// ten-second timeout, redirects not followed.
    pub http: reqwest::Client,
    pub jwks: jwks::JwksCache,
    /// `access_rules.rate_limits`, counted here or in Redis.
    pub limiter: ratelimit::RateLimiter,
    /// `access_rules.repositories`, parsed.
    repositories: Vec<load::Repository>,
    /// What the rules are compiled against (this Gatehouse's whoami, its session cookie).
    own: model::Own,
    /// The fetched repositories' documents the rules in force came from.
    fetched: std::sync::Mutex<load::Fetched>,
}

impl Gateway {
    /// Loads the configured rules (fetching URL repositories); an invalid rules file or a
    /// repository that cannot be fetched at start is an error (fix it first).
    pub async fn new(
        config: Arc<Config>,
        sessions: Arc<SessionService>,
        provider: Arc<Provider>,
        credentials: Arc<CredentialService>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Gateway, String> {
        let a = &config.access_rules;
        let repositories = a.repositories.clone();
        let own = model::Own::of(&config);
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("building the gateway's HTTP client: {e}"))?;
        let fetched = load::fetch_all(&http, &repositories).await?;
        let rules = if repositories.is_empty() {
            Rules::default()
        } else {
            load::load(&repositories, &fetched, a.matching_strategy, &own)?
        };
        let limiter = ratelimit::RateLimiter::new(&config, metrics)?;
        Ok(Gateway {
            limiter,
            rules: ArcSwap::from_pointee(rules),
            config,
            sessions,
            provider,
            credentials,
            http,
            jwks: jwks::JwksCache::default(),
            repositories,
            own,
            fetched: std::sync::Mutex::new(fetched),
        })
    }

    /// Re-reads the rules (URL repositories as fetched last, for the rules in force); on success
    /// they replace the ones in force, on failure those stay.
    pub fn reload(&self) -> Result<usize, String> {
        let in_force = self
            .fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.reload_with(in_force)
    }

    /// Re-reads the rules (URL repositories from `fetched`); on success they replace the ones
    /// in force and `fetched` becomes what they came from, on failure both stay.
    fn reload_with(&self, fetched: load::Fetched) -> Result<usize, String> {
        let set = load::load(
            &self.repositories,
            &fetched,
            self.config.access_rules.matching_strategy,
            &self.own,
        )?;
        let n = set.rules.len();
        self.rules.store(Arc::new(set));
        *self.fetched.lock().unwrap_or_else(|e| e.into_inner()) = fetched;
        Ok(n)
    }

    /// The URL repositories fetched again, or `None` when none changed; one that fails keeps
    /// the document in force (logged).
    async fn refetch(&self) -> Option<load::Fetched> {
        let old = self
            .fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut new = old.clone();
        for u in load::urls(&self.repositories) {
            match load::fetch(&self.http, u).await {
                Ok(text) => {
                    new.insert(u.clone(), text);
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "access rules repository could not be fetched: the rules in force stay"
                ),
            }
        }
        (new != old).then_some(new)
    }

    /// Watches the rule files (modification time and size, every `reload_interval`) and fetches
    /// URL repositories again (every `fetch_interval`) until `shutdown`, reloading on change.
    pub async fn watch(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let a = &self.config.access_rules;
        if self.repositories.is_empty() {
            return;
        }
        tokio::pin!(shutdown);
        let fetching = load::urls(&self.repositories).next().is_some();
        let mut seen = load::fingerprint(&self.repositories);
        let mut next_fetch = tokio::time::Instant::now() + a.fetch_interval.0;
        let mut tick = tokio::time::interval(a.reload_interval.0.min(a.fetch_interval.0));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut shutdown => return,
            }
            let mut fetched = None;
            if fetching && tokio::time::Instant::now() >= next_fetch {
                next_fetch = tokio::time::Instant::now() + a.fetch_interval.0;
                fetched = self.refetch().await;
            }
            let now = load::fingerprint(&self.repositories);
            let files_changed = now != seen;
            seen = now;
            if let Some(fetched) = fetched {
                match self.reload_with(fetched) {
                    Ok(n) => {
                        tracing::info!(rules = n, "access rules reloaded");
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "fetched access rules NOT reloaded: the previous rules stay in force")
                    }
                }
            }
            if !files_changed {
                continue;
            }
            match self.reload() {
                Ok(n) => tracing::info!(rules = n, "access rules reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "access rules NOT reloaded: the previous rules stay in force")
                }
            }
        }
    }
}

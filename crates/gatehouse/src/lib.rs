//! Gatehouse: an OAuth 2.0 / OpenID Connect provider (Hydra-compatible) in one binary.
//!
//! `main` parses the CLI and config and calls [`App::build`] then [`serve`]; tests call the same
//! functions on `127.0.0.1:0`.

pub mod audit;
pub mod clock;
pub mod config;
pub mod courier;
pub mod credentials;
pub mod error;
pub mod gateway;
pub mod identity;
pub mod invalidation;
pub mod janitor;
pub mod json_patch;
pub mod keys;
pub mod metrics;
pub mod oauth2;
pub mod outbound_guard;
pub mod redis_conn;
pub mod selfservice;
pub mod sessions;
pub mod web;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use gatehouse_crypto::Keyring;
use gatehouse_store::Store;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::courier::Courier;
use crate::keys::KeyManager;
use crate::oauth2::Provider;
use crate::web::AppState;

/// Everything the listeners share, built from a validated config.
pub struct App {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub provider: Arc<Provider>,
    /// Outgoing e-mail; identity flows queue their messages here.
    pub courier: Arc<Courier>,
    pub audit: audit::AuditLog,
    pub metrics: Arc<metrics::Metrics>,
    /// Tells the other processes what to purge; [`serve_all`] runs it.
    pub bus: invalidation::Bus,
    /// Every cache the bus purges, with the kind of key each takes.
    pub caches: invalidation::Caches,
    pub state: AppState,
}

/// The keyring from `secrets.system`, or — for the embedded SQLite default only — a secret
/// generated on first start into `<data_dir>/system.secret` (mode 0600).
fn keyring(config: &Config) -> anyhow::Result<Keyring> {
    if !config.secrets.system.is_empty() {
        let secrets: Vec<&str> = config
            .secrets
            .system
            .iter()
            .map(|s| s.expose().as_str())
            .collect();
        return Keyring::new(&secrets).context("secrets.system");
    }
    if !config.database_url().starts_with("sqlite:") {
        anyhow::bail!(
            "`secrets.system`: required when `dsn` is not SQLite (every replica must share it); set GATEHOUSE_SECRETS_SYSTEM"
        );
    }
    let path = config.data_dir.join("system.secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(s) => s.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s = gatehouse_crypto::random::alphanumeric(48);
            write_private(&path, &s).with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated secrets.system (keep this file safe and backed up)");
            s
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Keyring::new(&[secret]).context("secrets.system from the data directory")
}

/// The data directory holds the database and the system secret: owner-only (0700 on Unix).
pub fn create_data_dir(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())
}

impl App {
    /// Builds everything from a resolved configuration ([`config::RawConfig::resolve`] or
    /// [`Config::load`]).
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let config = Arc::new(config);
        if config.dsn.is_empty() {
            create_data_dir(&config.data_dir).with_context(|| {
                format!("creating data directory {}", config.data_dir.display())
            })?;
        }
        let keyring = Arc::new(keyring(&config)?);
        let store = gatehouse_store::connect(&config.database_url())
            .await
            .context("connecting to the database (`dsn`)")?;
        store.migrate().await.context("running migrations")?;
        let max_lifetime = config
            .ttl
            .access_token
            .secs()
            .max(config.ttl.id_token.secs());
        let courier = Arc::new(Courier::from_config(
            &config,
            store.clone(),
            keyring.clone(),
        )?);
        let keys = KeyManager::load(
            store.clone(),
            keyring.clone(),
            config.keys.algorithm,
            config.keys.publish_before_use.secs(),
            max_lifetime,
            clock::now(),
        )
        .await
        .context("loading signing keys")?;
        let keys = Arc::new(keys);
        // The composition root: the shared caches and channels are made here and handed to the
        // services that use them, and the services are wired to each other's events.
        let metrics = Arc::new(metrics::Metrics::default());
        let audit = audit::AuditLog::new(store.clone());
        let bus = invalidation::Bus::new(store.clone(), metrics.clone());
        let session_cache = sessions::new_cache(config.session.cache_ttl.0, bus.clone());
        let client_cache = oauth2::new_client_cache();
        let token_cache = oauth2::new_token_cache();
        let provider = Arc::new(
            Provider::new(
                config.clone(),
                store.clone(),
                keys.clone(),
                oauth2::Shared {
                    audit: audit.clone(),
                    metrics: metrics.clone(),
                    bus: bus.clone(),
                    session_cache: session_cache.clone(),
                    client_cache: client_cache.clone(),
                    token_cache: token_cache.clone(),
                },
            )
            .context("starting the OAuth 2.0 provider")?,
        );
        let discovery = oauth2::discovery::metadata(
            &provider.issuer,
            keys.current().signing.alg().as_str(),
            config.oidc.dynamic_client_registration.enabled,
        );
        let schemas = identity::schema::Schemas::load(&config.identity)
            .context("loading identity schemas (`identity.schemas`)")?;
        let credential_cache = credentials::new_cache(config.credentials.cache_ttl.0, bus.clone());
        let credentials = Arc::new(credentials::CredentialService::new(
            config.clone(),
            store.clone(),
            audit.clone(),
            credential_cache.clone(),
        ));
        let identities = Arc::new(identity::IdentityService::new(
            config.clone(),
            store.clone(),
            schemas,
            audit.clone(),
            vec![
                Arc::new(sessions::IdentitySessions::new(
                    store.clone(),
                    session_cache.clone(),
                )),
                credentials.clone(),
            ],
        ));
        let sessions = Arc::new(sessions::SessionService::new(
            config.clone(),
            store.clone(),
            identities.clone(),
            session_cache.clone(),
            audit.clone(),
            Arc::new(oauth2::session_events::LoginSessionsFollow(
                provider.clone(),
            )),
        ));
        let caches = invalidation::Caches::default()
            .with(invalidation::Kind::Session, Arc::new(session_cache))
            .with(
                invalidation::Kind::Credential,
                Arc::new(credential_cache.clone()),
            )
            .with(
                invalidation::Kind::CredentialOwner,
                Arc::new(credential_cache.by_owner()),
            )
            .with(invalidation::Kind::Token, Arc::new(token_cache))
            .with(invalidation::Kind::Client, Arc::new(client_cache));
        let flows = Arc::new(
            selfservice::SelfService::new(
                config.clone(),
                store.clone(),
                identities.clone(),
                sessions.clone(),
                provider.clone(),
                keyring.clone(),
                courier.clone(),
                credentials.clone(),
            )
            .context("configuring self-service (`selfservice.methods.webauthn`)")?,
        );
        let pages = web::pages::Pages::load(config.selfservice.ui.theme_path.as_deref())
            .context("loading the pages' theme (`selfservice.ui.theme_path`)")?;
        let gateway = Arc::new(
            gateway::Gateway::new(
                config.clone(),
                sessions.clone(),
                provider.clone(),
                credentials.clone(),
                metrics.clone(),
            )
            .await
            .map_err(|e| {
                anyhow::anyhow!("loading access rules (`access_rules.repositories`): {e}")
            })?,
        );
        let state = AppState::new(
            config.clone(),
            provider.clone(),
            metrics.clone(),
            courier.clone(),
            bytes::Bytes::from(discovery.to_string()),
            identities,
            sessions,
            flows,
            Arc::new(pages),
            credentials,
            gateway,
        );
        Ok(App {
            config,
            store,
            provider,
            courier,
            audit,
            metrics,
            bus,
            caches,
            state,
        })
    }
}

/// Serves the public and admin routers on the given listeners until `shutdown` resolves, with the
/// background janitor and the courier's queue worker running beside them.
pub async fn serve(
    app: &App,
    public: Option<TcpListener>,
    admin: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_all(
        app,
        Listeners {
            public,
            admin,
            ..Listeners::default()
        },
        shutdown,
    )
    .await
}

/// The listeners [`serve_all`] serves; `None` is off.
#[derive(Default)]
pub struct Listeners {
    pub public: Option<TcpListener>,
    pub admin: Option<TcpListener>,
    /// The gateway's decision API (`/decisions/*`).
    pub decisions: Option<TcpListener>,
    /// The gateway's reverse proxy.
    pub proxy: Option<TcpListener>,
}

/// [`serve`] with the gateway's decision and proxy listeners too.
pub async fn serve_all(
    app: &App,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Listeners {
        public,
        admin,
        decisions,
        proxy,
    } = listeners;
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let janitor = tokio::spawn(janitor::run(
        app.provider.clone(),
        app.config.janitor.interval.0,
        wait(rx.clone()),
    ));
    let courier = tokio::spawn(courier::worker::run(app.courier.clone(), wait(rx.clone())));
    let usage = tokio::spawn(app.state.credentials.usage.clone().run(
        app.config.credentials.usage_flush_interval.0,
        wait(rx.clone()),
    ));
    let watcher = tokio::spawn(app.state.gateway.clone().watch(wait(rx.clone())));
    let mut bus = tokio::spawn(invalidation::run(
        app.bus.clone(),
        app.caches.clone(),
        app.config.clone(),
        wait(rx.clone()),
    ));
    let mut tasks = Vec::new();
    if let Some(l) = decisions {
        let router = web::decisions_router(app.state.clone())
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        tasks.push(tokio::spawn(
            axum::serve(l, router)
                .with_graceful_shutdown(wait(rx.clone()))
                .into_future(),
        ));
    }
    if let Some(l) = proxy {
        let proxy = web::proxy::Proxy::new(&app.config.serve.proxy)?;
        let router = web::proxy_router(app.state.clone(), proxy)
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        tasks.push(tokio::spawn(
            axum::serve(l, router)
                .with_graceful_shutdown(wait(rx.clone()))
                .into_future(),
        ));
    }
    if let Some(l) = public {
        let router = web::public_router(app.state.clone())
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        tasks.push(tokio::spawn(
            axum::serve(l, router)
                .with_graceful_shutdown(wait(rx.clone()))
                .into_future(),
        ));
    }
    if let Some(l) = admin {
        let router = web::admin_router(app.state.clone());
        tasks.push(tokio::spawn(
            axum::serve(l, router)
                .with_graceful_shutdown(wait(rx.clone()))
                .into_future(),
        ));
    }
    for t in tasks {
        t.await.context("listener task")?.context("listener")?;
    }
    janitor.abort();
    watcher.abort();
    // The subscriber stops at shutdown by itself; it must not outlive the listeners.
    if tokio::time::timeout(std::time::Duration::from_secs(2), &mut bus)
        .await
        .is_err()
    {
        bus.abort();
    }
    // The last batch of credential uses is written as the listeners stop.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), usage).await;
    // The worker stops by itself between sends; give the send in flight a moment so its message is
    // not left `processing` (if it is, it is requeued after `courier::worker::STUCK_AFTER`).
    let mut courier = courier;
    if tokio::time::timeout(std::time::Duration::from_secs(10), &mut courier)
        .await
        .is_err()
    {
        courier.abort();
    }
    Ok(())
}

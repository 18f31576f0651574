//! The `gatehouse` command: parses the CLI, loads and validates config, binds, and hands over to
//! the library.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gatehouse::App;
use gatehouse::config::{Config, LogFormat};
use serde_json::{Value, json};

/// mimalloc instead of glibc's malloc: per-thread free lists without arena locks (glibc's took
/// ~6 % of a proxied request in lock waits alone, and ~13 % in malloc/free). Built with arenas
/// committed on use (`.cargo/config.toml`), which keeps idle RSS where glibc's was.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse: OAuth 2.0 / OpenID Connect provider, identities and access gateway in one binary"
)]
struct Cli {
    /// YAML configuration file (every key can also be set as GATEHOUSE_<KEY_PATH>).
    #[arg(long, short, global = true, env = "GATEHOUSE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the public and admin listeners.
    Serve,
    /// Applies database migrations and exits.
    Migrate,
    /// Validates the configuration and prints the resolved values (secrets redacted).
    CheckConfig,
    /// Prints the version.
    Version,
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// OAuth 2.0 clients.
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Identities (Kratos's model), on the database directly.
    Identities {
        #[command(subcommand)]
        command: IdentitiesCommand,
    },
    /// Access rules for the gateway.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Personal access tokens, API keys and service tokens, on the database directly.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Parses and validates rule repositories (files, directories, file://, http(s)://,
    /// inline://); prints how many rules, or the precise error (rule number, id and what is
    /// wrong) and exits 1.
    Check {
        #[arg(required = true)]
        paths: Vec<String>,
        /// regexp (default: access_rules.matching_strategy) or glob.
        #[arg(long)]
        strategy: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Issues a credential; prints it as JSON with its secret (`token`), shown this once.
    Create {
        /// service_token (default), api_key or pat.
        #[arg(long, default_value = "service_token")]
        kind: String,
        /// The service name (service_token), organization id (api_key) or identity id (pat).
        #[arg(long)]
        owner: String,
        #[arg(long)]
        name: String,
        /// A scope (repeatable), e.g. `read:*`.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Lifetime: `90d`, `12h`, seconds, or `never` (default: credentials.default_lifetime).
        #[arg(long = "expires-in")]
        expires_in: Option<String>,
    },
    /// Lists credentials (and those revoked in the last 30 days): id, kind, state, owner, name.
    List {
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        owner: Option<String>,
    },
    /// Revokes a credential; it stops working at once.
    Revoke {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Lists signing keys with their schedule.
    List,
    /// Adds a new signing key; it is published first and signs after `keys.publish_before_use`.
    Rotate {
        /// Sign with the new key at once (single replica, or verifiers that refetch on unknown kid).
        #[arg(long)]
        immediately: bool,
    },
    /// Re-encrypts every private key under the first secret of `secrets.system`.
    Reencrypt,
}

#[derive(Subcommand)]
enum ClientsCommand {
    /// Creates a client; the secret is printed once.
    Create {
        #[arg(long)]
        name: Option<String>,
        /// Grant types (repeatable): authorization_code, refresh_token, client_credentials.
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Space-separated scopes.
        #[arg(long)]
        scope: Option<String>,
        #[arg(long = "token-endpoint-auth-method")]
        auth_method: Option<String>,
        /// opaque or jwt.
        #[arg(long = "access-token-strategy")]
        strategy: Option<String>,
        /// Full client JSON instead of the flags above.
        #[arg(long)]
        json: Option<String>,
    },
    List,
    Get {
        id: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand)]
enum IdentitiesCommand {
    /// Creates an identity; prints it as JSON.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Reads the password from stdin (one trailing newline is dropped); never give it as an
        /// argument.
        #[arg(long = "password-stdin")]
        password_stdin: bool,
        /// The identity schema (default: `identity.default_schema_id`).
        #[arg(long = "schema-id")]
        schema_id: Option<String>,
        /// Marks the e-mail address as verified.
        #[arg(long)]
        verified: bool,
    },
    /// Imports a JSON file holding an array of Kratos `createIdentity` bodies (passwords as
    /// `credentials.password.config.hashed_password`: argon2, bcrypt, pbkdf2 or scrypt, upgraded
    /// to argon2id on the next login). Prints one result per entry, as `PATCH /admin/identities`
    /// does; fails when any entry failed.
    Import { file: PathBuf },
    /// Lists identities: id, state, email, created.
    List {
        /// Only the identity with this credential identifier (e.g. an e-mail address).
        #[arg(long)]
        identifier: Option<String>,
        #[arg(long, default_value_t = 250)]
        limit: i64,
    },
    /// Prints an identity as JSON.
    Get { id: String },
    /// Deletes an identity and ends its sessions.
    Delete { id: String },
}

fn init_tracing(config: &Config) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!("{},sqlx=warn", config.log.level))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log.format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn print(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let cli = Cli::parse();
    if matches!(cli.command, Command::Version) {
        println!("gatehouse {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    init_tracing(&config);
    match cli.command {
        Command::Version => Ok(()),
        Command::CheckConfig => {
            // Secrets redact themselves (`config::Secret`, `config::SecretUrl`). Through a
            // `Value`, so the keys print in the order they always have.
            print(&serde_json::to_value(&config)?)?;
            eprintln!("configuration is valid");
            Ok(())
        }
        Command::Migrate => {
            let store = gatehouse_store::connect(&database_url(&config)?).await?;
            store.migrate().await?;
            eprintln!("migrations applied ({})", store.backend());
            Ok(())
        }
        Command::Serve => serve(config, started).await,
        Command::Keys { command } => {
            let app = App::build(config).await?;
            let now = gatehouse::clock::now();
            match command {
                KeysCommand::List => {
                    let rows = app.store.list_all_keys().await?;
                    let out: Vec<Value> = rows
                        .iter()
                        .map(|r| json!({"kid": r.kid, "set": r.set_name, "alg": r.alg, "created_at": gatehouse::clock::rfc3339(r.created_at), "signs_from": gatehouse::clock::rfc3339(r.activate_at), "signs_until": r.retire_at.map(gatehouse::clock::rfc3339), "published_until": r.expire_at.map(gatehouse::clock::rfc3339)}))
                        .collect();
                    print(&out)
                }
                KeysCommand::Rotate { immediately } => {
                    let row = app.provider.keys.rotate(now, immediately).await?;
                    app.store
                        .insert_audit(&gatehouse_store::AuditRow {
                            id: uuid::Uuid::new_v4().to_string(),
                            at: now,
                            kind: gatehouse::audit::event::KEY_ROTATED.into(),
                            subject: None,
                            client_id: None,
                            ip: None,
                            data:
                                json!({"kid": row.kid, "alg": row.alg, "immediately": immediately})
                                    .to_string(),
                        })
                        .await?;
                    print(
                        &json!({"kid": row.kid, "alg": row.alg, "signs_from": gatehouse::clock::rfc3339(row.activate_at)}),
                    )
                }
                KeysCommand::Reencrypt => {
                    let n = app.provider.keys.reencrypt_all().await?;
                    eprintln!("re-encrypted {n} keys");
                    Ok(())
                }
            }
        }
        Command::Clients { command } => {
            let app = App::build(config).await?;
            let p = &app.provider;
            let now = gatehouse::clock::now();
            let done = match command {
                ClientsCommand::Create {
                    name,
                    grant_types,
                    redirect_uris,
                    scope,
                    auth_method,
                    strategy,
                    json: raw,
                } => {
                    let body: Value = match raw {
                        Some(r) => serde_json::from_str(&r).context("--json is not valid JSON")?,
                        None => {
                            let mut v = json!({"client_name": name.unwrap_or_default(), "redirect_uris": redirect_uris});
                            if !grant_types.is_empty() {
                                v["grant_types"] = json!(grant_types);
                            }
                            if let Some(s) = scope {
                                v["scope"] = json!(s);
                            }
                            if let Some(m) = auth_method {
                                v["token_endpoint_auth_method"] = json!(m);
                            }
                            if let Some(s) = strategy {
                                v["access_token_strategy"] = json!(s);
                            }
                            v
                        }
                    };
                    let c = p
                        .create_client(body, false, now)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    let mut v = serde_json::to_value(&c.client)?;
                    if let Some(s) = c.secret {
                        v["client_secret"] = json!(s);
                    }
                    print(&v)
                }
                ClientsCommand::List => print(
                    &p.list_clients(1000, 0, None, None)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                ),
                ClientsCommand::Get { id } => print(
                    &p.get_client(&id)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                        .client,
                ),
                ClientsCommand::Delete { id } => {
                    p.delete_client(&id)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    eprintln!("deleted client {id}");
                    Ok(())
                }
            };
            tell_running_servers(&app, done).await
        }
        Command::Identities { command } => {
            let app = App::build(config).await?;
            let done = identities(&app, command).await;
            tell_running_servers(&app, done).await
        }
        Command::Rules {
            command: RulesCommand::Check { paths, strategy },
        } => {
            let strategy = match strategy {
                Some(s) => gatehouse_protocol::access_rule::Strategy::parse(&s)
                    .ok_or_else(|| anyhow::anyhow!("--strategy: expected regexp or glob"))?,
                None => config.access_rules.matching_strategy,
            };
            use gatehouse::gateway::{load, model::Own};
            let repos = load::Repository::parse_all(&paths).map_err(|e| anyhow::anyhow!("{e}"))?;
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .context("building the HTTP client")?;
            let fetched = load::fetch_all(&http, &repos)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            match load::load(&repos, &fetched, strategy, &Own::of(&config)) {
                Ok(set) => {
                    println!("ok: {} rules ({})", set.rules.len(), strategy.as_str());
                    Ok(())
                }
                Err(e) => anyhow::bail!("{e}"),
            }
        }
        Command::Tokens { command } => {
            let app = App::build(config).await?;
            let done = tokens(&app, command).await;
            tell_running_servers(&app, done).await
        }
    }
}

/// After a CLI command that may have revoked something (a credential, an identity's sessions, a
/// client): writes the cache purges it queued to the invalidation log, so running servers drop
/// what they cached within `invalidation.poll_interval` instead of their cache TTL.
async fn tell_running_servers(app: &App, done: anyhow::Result<()>) -> anyhow::Result<()> {
    let failed = app.bus.flush().await;
    done?;
    if failed > 0 {
        anyhow::bail!(
            "done, but {failed} cache invalidation(s) could not be written to the database: running servers may keep what they cached until their cache TTL ends"
        );
    }
    Ok(())
}

/// A password from stdin: all of it, less one trailing newline.
fn password_from_stdin() -> anyhow::Result<String> {
    use std::io::Read;
    let mut p = String::new();
    std::io::stdin()
        .read_to_string(&mut p)
        .context("reading the password from stdin")?;
    let p = p
        .strip_suffix("\r\n")
        .or_else(|| p.strip_suffix('\n'))
        .unwrap_or(&p)
        .to_owned();
    if p.is_empty() {
        anyhow::bail!("--password-stdin: stdin held no password");
    }
    Ok(p)
}

async fn identities(app: &App, command: IdentitiesCommand) -> anyhow::Result<()> {
    use gatehouse::error::Error;
    use gatehouse::identity::service::{
        AddressInput, CreateIdentity, CredentialsInput, PasswordConfigInput, PasswordInput,
    };
    let ids = &app.state.identities;
    let now = gatehouse::clock::now();
    let err = |e: Error| anyhow::anyhow!("{e}");
    match command {
        IdentitiesCommand::Create {
            email,
            name,
            password_stdin,
            schema_id,
            verified,
        } => {
            let mut traits = json!({ "email": email });
            if let Some(n) = name {
                traits["name"] = json!(n);
            }
            let password = if password_stdin {
                Some(password_from_stdin()?)
            } else {
                None
            };
            let body = CreateIdentity {
                schema_id,
                traits,
                credentials: password.map(|p| CredentialsInput {
                    password: Some(PasswordInput {
                        config: PasswordConfigInput {
                            password: Some(p),
                            hashed_password: None,
                        },
                    }),
                    oidc: None,
                }),
                verifiable_addresses: verified.then(|| {
                    vec![AddressInput {
                        value: email.clone(),
                        via: Some("email".into()),
                        verified: true,
                        status: None,
                    }]
                }),
                ..CreateIdentity::default()
            };
            let i = ids.create(body, now).await.map_err(err)?;
            print(&i.to_api(&ids.issuer, &[]))
        }
        IdentitiesCommand::Import { file } => {
            let raw = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let entries: Vec<Value> = serde_json::from_str(&raw).with_context(|| {
                format!(
                    "{}: expected a JSON array of createIdentity bodies",
                    file.display()
                )
            })?;
            let mut out = Vec::with_capacity(entries.len());
            let mut failed = 0usize;
            for entry in entries {
                let result = match serde_json::from_value::<CreateIdentity>(entry) {
                    Err(e) => Err(Error::BadRequest(format!("not a createIdentity body: {e}"))),
                    Ok(body) => ids.create(body, now).await,
                };
                match result {
                    Ok(i) => out.push(json!({"action": "create", "identity": i.id})),
                    Err(e) => {
                        failed += 1;
                        let code = match &e {
                            Error::Conflict(_) | Error::Stale(_) => 409,
                            Error::BadRequest(_) => 400,
                            _ => 500,
                        };
                        out.push(json!({"action": "error",
                            "error": {"code": code, "message": e.to_string()}}));
                    }
                }
            }
            print(&json!({ "identities": out }))?;
            ids.audit.flush(std::time::Duration::from_secs(5)).await;
            if failed > 0 {
                anyhow::bail!("{failed} of {} identities were not imported", out.len());
            }
            Ok(())
        }
        IdentitiesCommand::List { identifier, limit } => {
            let list = ids
                .list(limit.clamp(1, 100_000), 0, identifier.as_deref())
                .await
                .map_err(err)?;
            println!("{:<36}  {:<8}  {:<32}  CREATED", "ID", "STATE", "EMAIL");
            for i in &list {
                let email = i
                    .email()
                    .or_else(|| i.traits.get("email").and_then(Value::as_str))
                    .unwrap_or("-");
                println!(
                    "{:<36}  {:<8}  {:<32}  {}",
                    i.id,
                    i.state.as_str(),
                    email,
                    gatehouse::clock::rfc3339(i.created_at)
                );
            }
            Ok(())
        }
        IdentitiesCommand::Get { id } => {
            let i = ids.get(&id).await.map_err(err)?;
            print(&i.to_api(&ids.issuer, &[]))
        }
        IdentitiesCommand::Delete { id } => {
            ids.delete(&id, gatehouse::clock::now())
                .await
                .map_err(err)?;
            eprintln!("deleted identity {id}");
            Ok(())
        }
    }?;
    ids.audit.flush(std::time::Duration::from_secs(5)).await;
    Ok(())
}

async fn tokens(app: &App, command: TokensCommand) -> anyhow::Result<()> {
    use gatehouse::credentials::{Kind, Lifetime, NewCredential, issued_view, state};
    let creds = &app.state.credentials;
    let now = gatehouse::clock::now();
    let err = |e: gatehouse::error::Error| anyhow::anyhow!("{e}");
    let kind_of = |k: &str| {
        Kind::parse(k)
            .ok_or_else(|| anyhow::anyhow!("--kind: expected pat, api_key or service_token"))
    };
    match command {
        TokensCommand::Create {
            kind,
            owner,
            name,
            scopes,
            expires_in,
        } => {
            let lifetime = match expires_in {
                None => Lifetime::Default,
                Some(v) => Lifetime::from_json(Some(&Value::String(v))).map_err(err)?,
            };
            let issued = creds
                .create(
                    NewCredential {
                        kind: kind_of(&kind)?,
                        owner,
                        name,
                        scopes,
                        lifetime,
                        created_by: "cli".into(),
                    },
                    now,
                )
                .await
                .map_err(err)?;
            print(&issued_view(&issued, now).map_err(err)?)
        }
        TokensCommand::List { kind, owner } => {
            let kind = kind.as_deref().map(kind_of).transpose()?;
            let list = creds
                .list(kind, owner.as_deref(), 1000, 0, now)
                .await
                .map_err(err)?;
            println!(
                "{:<36}  {:<13}  {:<7}  {:<36}  NAME",
                "ID", "KIND", "STATE", "OWNER"
            );
            for c in &list {
                println!(
                    "{:<36}  {:<13}  {:<7}  {:<36}  {}",
                    c.id,
                    c.kind,
                    state(c, now),
                    c.owner,
                    c.name
                );
            }
            Ok(())
        }
        TokensCommand::Revoke { id, reason } => {
            creds
                .revoke(
                    &id,
                    Some(reason.as_deref().unwrap_or("Revoked from the CLI")),
                    now,
                )
                .await
                .map_err(err)?;
            eprintln!("revoked credential {id}");
            Ok(())
        }
    }?;
    app.audit.flush(std::time::Duration::from_secs(5)).await;
    Ok(())
}

fn database_url(config: &Config) -> anyhow::Result<String> {
    if config.dsn.is_empty() {
        gatehouse::create_data_dir(&config.data_dir)?;
    }
    Ok(config.database_url())
}

async fn bind(
    enabled: bool,
    host: &str,
    port: u16,
    what: &str,
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    if !enabled {
        return Ok(None);
    }
    let l = tokio::net::TcpListener::bind((host, port))
        .await
        .with_context(|| format!("binding the {what} listener on {host}:{port}"))?;
    Ok(Some(l))
}

async fn serve(config: Config, started: Instant) -> anyhow::Result<()> {
    // Bind first: a port in use fails before any database work.
    let public = bind(
        config.serve.public.enabled,
        &config.serve.public.host,
        config.serve.public.port,
        "public",
    )
    .await?;
    let admin = bind(
        config.serve.admin.enabled,
        &config.serve.admin.host,
        config.serve.admin.port,
        "admin",
    )
    .await?;
    let decisions = bind(
        config.serve.decisions.enabled,
        &config.serve.decisions.host,
        config.serve.decisions.port,
        "decisions",
    )
    .await?;
    let proxy = bind(
        config.serve.proxy.enabled,
        &config.serve.proxy.host,
        config.serve.proxy.port,
        "proxy",
    )
    .await?;
    let app = App::build(config).await?;
    let addr = |l: &Option<tokio::net::TcpListener>| {
        l.as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .unwrap_or_else(|| "off".into())
    };
    tracing::info!(
        issuer = %app.provider.issuer,
        public = %addr(&public),
        admin = %addr(&admin),
        decisions = %addr(&decisions),
        proxy = %addr(&proxy),
        rules = app.state.gateway.rules.load().rules.len(),
        database = app.store.backend(),
        data_dir = %app.config.data_dir.display(),
        ready_ms = started.elapsed().as_millis() as u64,
        "gatehouse is ready"
    );
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        return;
                    }
                };
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
    };
    let listeners = gatehouse::Listeners {
        public,
        admin,
        decisions,
        proxy,
    };
    gatehouse::serve_all(&app, listeners, shutdown).await
}

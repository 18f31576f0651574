//! `TestApp`: a Gatehouse on free loopback ports with its own database, and helpers that read
//! like the API (create a client, run a login/consent flow, exchange a code).

use std::sync::Arc;

use gatehouse::App;
use gatehouse::config::RawConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    /// Only when `GATEHOUSE_TEST_POSTGRES_DSN` is set (see [`TestApp::spawn_on`]).
    Postgres,
}

/// Runs an async test body on both backends: `both_backends!(name, body)` hands the body a
/// default `TestApp`; `both_backends!(backend name, body)` hands it the `Backend`, for bodies
/// that configure their app (`TestApp::spawn_on`).
#[macro_export]
macro_rules! both_backends {
    (backend $name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body($crate::harness::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body($crate::harness::Backend::Postgres).await;
            }
        }
    };
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body(
                    $crate::harness::TestApp::spawn($crate::harness::Backend::Sqlite).await,
                )
                .await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::harness::TestApp::spawn_postgres().await {
                    super::$body(app).await;
                }
            }
        }
    };
}

pub struct TestApp {
    pub public: String,
    pub admin: String,
    /// The gateway's decision listener.
    pub decisions: String,
    /// The gateway's reverse proxy listener.
    pub proxy: String,
    pub app: Arc<App>,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts the graceful shutdown of every listener (as SIGTERM does).
    pub fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub const REDIRECT: &str = "https://app.example.com/callback";
pub const LOGIN_URL: &str = "https://login.example.com/login";
pub const CONSENT_URL: &str = "https://login.example.com/consent";

/// A fresh database on the test PostgreSQL, or `None` (PostgreSQL variant skipped) outside CI.
pub async fn postgres_dsn() -> Option<String> {
    let Ok(base) = std::env::var("GATEHOUSE_TEST_POSTGRES_DSN") else {
        assert!(
            std::env::var("CI").is_err(),
            "GATEHOUSE_TEST_POSTGRES_DSN must be set in CI (scripts/test starts PostgreSQL)"
        );
        eprintln!(
            "GATEHOUSE_TEST_POSTGRES_DSN not set: PostgreSQL variant not run (use scripts/test)"
        );
        return None;
    };
    let name = format!("gh_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&base)
        .await
        .expect("connect to test PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .expect("create test database");
    pool.close().await;
    let mut url = url::Url::parse(&base).expect("dsn");
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_postgres() -> Option<TestApp> {
        let dsn = postgres_dsn().await?;
        Some(Self::build(Some(dsn), |_| {}).await)
    }

    /// SQLite only: use [`TestApp::spawn_on`] for a configured app on either backend.
    pub async fn spawn_with(backend: Backend, f: impl FnOnce(&mut RawConfig)) -> TestApp {
        match backend {
            Backend::Sqlite => Self::build(None, f).await,
            Backend::Postgres => panic!("spawn_with is SQLite-only; use spawn_on"),
        }
    }

    /// A configured app on `backend`; `None` for PostgreSQL when no test database is configured.
    pub async fn spawn_on(backend: Backend, f: impl FnOnce(&mut RawConfig)) -> Option<TestApp> {
        match backend {
            Backend::Sqlite => Some(Self::build(None, f).await),
            Backend::Postgres => Some(Self::build(Some(postgres_dsn().await?), f).await),
        }
    }

    async fn build(dsn: Option<String>, f: impl FnOnce(&mut RawConfig)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let public = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let admin = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let decisions = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let decisions_url = format!("http://{}", decisions.local_addr().expect("addr"));
        let proxy_url = format!("http://{}", proxy.local_addr().expect("addr"));
        let public_url = format!("http://{}", public.local_addr().expect("addr"));
        let admin_url = format!("http://{}", admin.local_addr().expect("addr"));
        let mut config = RawConfig {
            data_dir: dir.path().to_owned(),
            ..RawConfig::default()
        };
        if let Some(dsn) = dsn {
            config.dsn = dsn.into();
            config.secrets.system = vec!["test-secret-0123456789abcdef".into()];
        }
        config.urls.self_.issuer = Some(public_url.clone());
        config.urls.login = Some(LOGIN_URL.into());
        config.urls.consent = Some(CONSENT_URL.into());
        f(&mut config);
        // Resolved as `Config::load` resolves the file and the environment: a configuration
        // production refuses fails the test here.
        let config = config
            .resolve()
            .unwrap_or_else(|e| panic!("the test's configuration is refused: {e}"));
        let app = Arc::new(App::build(config).await.expect("app builds"));
        let (tx, rx) = oneshot::channel::<()>();
        let served = app.clone();
        tokio::spawn(async move {
            let listeners = gatehouse::Listeners {
                public: Some(public),
                admin: Some(admin),
                decisions: Some(decisions),
                proxy: Some(proxy),
            };
            let _ = gatehouse::serve_all(&served, listeners, async {
                let _ = rx.await;
            })
            .await;
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        TestApp {
            decisions: decisions_url,
            proxy: proxy_url,
            public: public_url,
            admin: admin_url,
            app,
            http,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.public
    }

    /// Runs SQL on the app's own database behind the store's back, for tests that make the
    /// database itself fail (a trigger) where no API could.
    pub async fn sql(&self, statements: &str) {
        let url = self.app.config.database_url();
        let sql = sqlx::AssertSqlSafe(statements.to_owned());
        if url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
            sqlx::raw_sql(sql).execute(&pool).await.expect("sql");
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&url).await.expect("connect");
            sqlx::raw_sql(sql).execute(&pool).await.expect("sql");
            pool.close().await;
        }
    }

    /// Creates a client through the admin API and returns its JSON (with `client_secret`).
    pub async fn create_client(&self, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}/admin/clients", self.admin))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let v: Value = resp.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v
    }

    /// A confidential web client for the code flow.
    pub async fn web_client(&self) -> Value {
        self.create_client(json!({
            "client_name": "web",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [REDIRECT],
            "scope": "openid offline_access profile",
        }))
        .await
    }

    pub async fn token(
        &self,
        client: &Value,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let resp = self
            .http
            .post(format!("{}/oauth2/token", self.public))
            .basic_auth(
                client["client_id"].as_str().unwrap_or_default(),
                client["client_secret"].as_str(),
            )
            .form(form)
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        (status, resp.json().await.unwrap_or(Value::Null), headers)
    }

    pub async fn introspect(&self, token: &str) -> Value {
        self.http
            .post(format!("{}/admin/oauth2/introspect", self.admin))
            .form(&[("token", token)])
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    pub async fn admin_put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .put(format!("{}{path}", self.admin))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Any admin call with an optional JSON body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.admin));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Creates an identity with the default schema and a password; returns its JSON.
    pub async fn create_identity(&self, email: &str, password: &str) -> Value {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/admin/identities",
                Some(json!({
                    "schema_id": "default",
                    "traits": {"email": email, "name": "Test User"},
                    "credentials": {"password": {"config": {"password": password}}},
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.admin))
            .send()
            .await
            .expect("request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// A browser: follows nothing by itself, keeps cookies.
#[derive(Default)]
pub struct Browser {
    pub cookies: Vec<(String, String)>,
}

pub struct Hop {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Browser {
    /// The `Cookie` header for what this browser holds.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Keeps the cookies an answer sets, and forgets the ones it clears (`Max-Age=0`).
    pub fn keep(&mut self, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all("set-cookie") {
            let s = v.to_str().unwrap_or_default();
            let first = s.split(';').next().unwrap_or_default();
            if let Some((k, val)) = first.split_once('=') {
                self.cookies.retain(|(n, _)| n != k);
                if !s.contains("Max-Age=0") {
                    self.cookies.push((k.to_owned(), val.to_owned()));
                }
            }
        }
    }

    pub async fn get(&mut self, app: &TestApp, url: &str) -> Hop {
        let mut req = app.http.get(url);
        if !self.cookies.is_empty() {
            req = req.header("cookie", self.cookie_header());
        }
        let resp = req.send().await.expect("request");
        self.keep(resp.headers());
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Hop {
            status,
            location,
            body: resp.text().await.unwrap_or_default(),
        }
    }
}

/// The value of a flow's `csrf_token` node (Kratos's flow JSON).
pub fn csrf_token(flow: &Value) -> Option<&str> {
    flow["ui"]["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["attributes"]["name"] == "csrf_token")?["attributes"]["value"]
        .as_str()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub const VERIFIER: &str = "dBjftJeZ4CVP-mA0vHZ8tRxmhNmsX0GbHq8n35Ds0Ic";
pub const CHALLENGE: &str = "t2PzgwpGIAiq1EyA27txBw1d9FQAzP_RKgClcuWqpSA";

/// Runs /oauth2/auth → login accept → consent accept and returns the final redirect to the client.
pub async fn login_and_consent(
    app: &TestApp,
    browser: &mut Browser,
    client: &Value,
    extra: &str,
    remember: bool,
) -> String {
    let challenge = start_authorization(app, browser, client, extra).await;
    let (status, req) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/login?login_challenge={challenge}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{req}");
    let subject = req["subject"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("alice")
        .to_owned();
    let (status, accepted) = app
        .admin_put(&format!("/admin/oauth2/auth/requests/login/accept?login_challenge={challenge}"), json!({"subject": subject, "remember": remember, "remember_for": 3600, "acr": "1", "amr": ["pwd"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let redirect_to = accepted["redirect_to"].as_str().expect("redirect_to");
    consent_to_client(app, browser, redirect_to, remember).await
}

/// The browser opens `/oauth2/auth` for `client`; the login challenge it is sent to the login
/// app with.
pub async fn start_authorization(
    app: &TestApp,
    browser: &mut Browser,
    client: &Value,
    extra: &str,
) -> String {
    let auth_url = format!(
        "{}/oauth2/auth?client_id={}&response_type=code&redirect_uri={}&scope=openid+offline_access&state=st4te1234&nonce=n0nce1234&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        app.public,
        client["client_id"].as_str().unwrap_or_default(),
        urlencode(REDIRECT),
    );
    let hop = browser.get(app, &auth_url).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let login = hop.location.expect("redirect to login");
    assert!(login.starts_with(LOGIN_URL), "{login}");
    query_param(&login, "login_challenge").expect("login_challenge")
}

/// After an accepted login: the browser follows `redirect_to`, consent is accepted, and the
/// final redirect to the client is returned.
pub async fn consent_to_client(
    app: &TestApp,
    browser: &mut Browser,
    redirect_to: &str,
    remember: bool,
) -> String {
    let hop = browser.get(app, redirect_to).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    let consent = hop.location.expect("redirect to consent");
    if consent.starts_with(REDIRECT) {
        return consent;
    }
    let challenge = query_param(&consent, "consent_challenge").expect("consent_challenge");
    let (status, req) = app
        .admin_get(&format!(
            "/admin/oauth2/auth/requests/consent?consent_challenge={challenge}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{req}");
    let (status, accepted) = app
        .admin_put(
            &format!("/admin/oauth2/auth/requests/consent/accept?consent_challenge={challenge}"),
            json!({"grant_scope": req["requested_scope"], "remember": remember, "remember_for": 3600, "session": {"id_token": {"email": "alice@example.com"}, "access_token": {"team": "blue"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let hop = browser
        .get(app, accepted["redirect_to"].as_str().expect("redirect_to"))
        .await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    hop.location.expect("redirect to client")
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A real SMTP server for the courier's tests: Debian's `python3-aiosmtpd` on a free loopback
/// port, storing what it receives in a Maildir in a temporary directory. Killed on drop.
pub struct SmtpSink {
    pub port: u16,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

/// One delivered message.
#[derive(Debug, Clone)]
pub struct SinkMessage {
    pub to: String,
    pub from: String,
    pub subject: String,
    pub body: String,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let maildir = dir.path().join("maildir");
        let child = std::process::Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("start aiosmtpd (Debian package python3-aiosmtpd; scripts/test installs it)");
        let mut sink = SmtpSink { port, child, dir };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return sink;
            }
            if let Ok(Some(status)) = sink.child.try_wait() {
                panic!("aiosmtpd exited at start: {status}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd did not accept connections on 127.0.0.1:{port}");
    }

    /// `courier.smtp.connection_uri` for this sink (plain SMTP: a local relay).
    pub fn connection_uri(&self) -> String {
        format!("smtp://127.0.0.1:{}/?disable_starttls=true", self.port)
    }

    /// Every message delivered so far.
    pub fn messages(&self) -> Vec<SinkMessage> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.path().join("maildir").join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let raw = std::fs::read(e.path()).expect("read maildir file");
                let m = mail_parser::MessageParser::default()
                    .parse(&raw)
                    .expect("parse delivered message");
                let addr = |a: Option<&mail_parser::Address>| {
                    a.and_then(|a| a.first())
                        .and_then(|a| a.address())
                        .unwrap_or_default()
                        .to_owned()
                };
                out.push(SinkMessage {
                    to: addr(m.to()),
                    from: addr(m.from()),
                    subject: m.subject().unwrap_or_default().to_owned(),
                    body: m.body_text(0).map(|b| b.into_owned()).unwrap_or_default(),
                });
            }
        }
        out
    }

    /// Waits until at least `n` messages have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<SinkMessage> {
        for _ in 0..200 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "expected {n} messages in the SMTP sink, got {:?}",
            self.messages()
        );
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it returns `Some`, for up to `secs` seconds.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    secs: u64,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met in {secs}s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

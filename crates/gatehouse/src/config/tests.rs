//! Loading and resolving: defaults, environment overrides, and errors that name the key.

use std::path::Path;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<Vec<_>>()
        .into_iter()
}

#[test]
fn defaults_are_valid() {
    let c = Config::load(None, env(&[])).expect("ok");
    assert_eq!(c.serve.public.port, 4444);
    assert_eq!(c.serve.admin.port, 4445);
    assert_eq!(
        c.serve.public.host, "127.0.0.1",
        "the listener stays on loopback"
    );
    assert_eq!(c.issuer(), "http://localhost:4444");
    assert!(c.database_url().starts_with("sqlite://"));
}

#[test]
fn default_issuer_names_a_loopback_listener_localhost() {
    let issuer = |host: &str| {
        let mut c = RawConfig::default();
        c.serve.public.host = host.into();
        c.serve.public.port = 8444;
        c.resolve().expect("valid").issuer()
    };
    assert_eq!(Config::default().issuer(), "http://localhost:4444");
    assert_eq!(issuer("127.0.0.1"), "http://localhost:8444");
    assert_eq!(issuer("127.0.0.2"), "http://localhost:8444");
    assert_eq!(issuer("::1"), "http://localhost:8444");
    assert_eq!(issuer("LocalHost"), "http://localhost:8444");
    assert_eq!(issuer("192.0.2.7"), "http://192.0.2.7:8444");
    assert_eq!(issuer("2001:db8::7"), "http://[2001:db8::7]:8444");
    assert_eq!(issuer("auth.internal"), "http://auth.internal:8444");
    let mut c = RawConfig::default();
    c.urls.self_.issuer = Some("http://127.0.0.1:4444/".into());
    assert_eq!(
        c.resolve().expect("valid").issuer(),
        "http://127.0.0.1:4444",
        "a configured issuer is kept"
    );
}

#[test]
fn env_overrides_keys_with_underscores() {
    let c = Config::load(
        None,
        env(&[
            ("GATEHOUSE_SERVE_PUBLIC_PORT", "9000"),
            ("GATEHOUSE_URLS_SELF_ISSUER", "https://auth.example.com/"),
            ("GATEHOUSE_TTL_ACCESS_TOKEN", "15m"),
            (
                "GATEHOUSE_SECRETS_SYSTEM",
                "0123456789abcdef0123,fedcba9876543210fedc",
            ),
            ("GATEHOUSE_STRATEGIES_ACCESS_TOKEN", "jwt"),
        ]),
    )
    .expect("ok");
    assert_eq!(c.serve.public.port, 9000);
    assert_eq!(c.issuer(), "https://auth.example.com");
    assert_eq!(c.ttl.access_token.secs(), 900);
    assert_eq!(c.secrets.system.len(), 2);
    assert_eq!(c.strategies.access_token, AccessTokenStrategy::Jwt);
}

#[test]
fn errors_name_the_key() {
    let e = Config::load(None, env(&[("GATEHOUSE_SERVE_PUBLIC_PORT", "lots")])).expect_err("bad");
    assert!(e.to_string().contains("serve.public"), "{e}");
    let e = Config::load(None, env(&[("GATEHOUSE_TTL_ACCESS_TOKEN", "soon")])).expect_err("bad");
    assert!(e.to_string().contains("ttl.access_token"), "{e}");
    let e = Config::load(None, env(&[("GATEHOUSE_DSN", "mysql://x")])).expect_err("bad");
    assert!(e.to_string().contains("dsn"), "{e}");
    let e = Config::load(None, env(&[("GATEHOUSE_SECRETS_SYSTEM", "short")])).expect_err("bad");
    assert!(e.to_string().contains("secrets.system[0]"), "{e}");
    let e = Config::load(
        None,
        env(&[("GATEHOUSE_COURIER_SMTP_CONNECTION_URI", "smtpx://mail:25")]),
    )
    .expect_err("bad");
    assert!(
        e.to_string().contains("courier.smtp.connection_uri") && e.to_string().contains("scheme"),
        "{e}"
    );
}

#[test]
fn the_example_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/gatehouse.yaml");
    let c = Config::load(Some(&path), env(&[])).expect("config/gatehouse.yaml is valid");
    assert_eq!(c.session.cookie.name, "gatehouse_session");
    assert_eq!(c.hashers.argon2.memory_kib, 19456);
}

#[test]
fn dcr_default_scope_must_be_an_allowed_scope() {
    let e = Config::load(
        None,
        env(&[(
            "GATEHOUSE_OIDC_DYNAMIC_CLIENT_REGISTRATION_DEFAULT_SCOPE",
            "openid,admin:*",
        )]),
    )
    .expect_err("admin:* is not allowed");
    assert!(
        e.to_string()
            .contains("oidc.dynamic_client_registration.default_scope"),
        "{e}"
    );
    let c = Config::load(
        None,
        env(&[("GATEHOUSE_CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES", "false")]),
    )
    .expect("valid");
    assert!(!c.clients.http.disallow_private_ip_ranges);
    assert!(Config::default().clients.http.disallow_private_ip_ranges);
}

#[test]
fn an_unknown_required_aal_is_refused_at_load() {
    for (var, key) in [
        ("GATEHOUSE_SESSION_WHOAMI_REQUIRED_AAL", "session.whoami"),
        (
            "GATEHOUSE_SELFSERVICE_FLOWS_SETTINGS_REQUIRED_AAL",
            "selfservice.flows",
        ),
    ] {
        for bad in ["aal2", "AAL1", "highest"] {
            let e = Config::load(None, env(&[(var, bad)])).expect_err(bad);
            assert!(e.to_string().contains(key), "{e}");
        }
        let c = Config::load(None, env(&[(var, "aal1")])).expect("aal1");
        let _ = c;
    }
    assert_eq!(
        Config::default().session.whoami.required_aal,
        RequiredAal::HighestAvailable
    );
}

#[test]
fn kratos_method_config_paths_are_accepted() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("kratos.yaml");
    std::fs::write(
        &path,
        "selfservice:\n  methods:\n    password:\n      enabled: true\n      config:\n        min_password_length: 12\n        haveibeenpwned_enabled: false\n        identifier_similarity_check_enabled: true\n    totp:\n      enabled: true\n      config:\n        issuer: Example\n    webauthn:\n      enabled: true\n      config:\n        passwordless: true\n        rp:\n          id: example.com\n          display_name: Example\n          origin: https://auth.example.com\n",
    )
    .expect("write");
    let c = Config::load(Some(&path), std::iter::empty()).expect("Kratos's shape");
    let m = &c.selfservice.methods;
    assert_eq!(m.password.min_password_length, 12);
    assert!(!m.password.refuse_common);
    assert_eq!(m.totp.issuer.as_deref(), Some("Example"));
    assert_eq!(m.webauthn.rp_id.as_deref(), Some("example.com"));
    assert_eq!(m.webauthn.rp_display_name, "Example");
    assert_eq!(
        m.webauthn.rp_origins,
        vec!["https://auth.example.com".to_owned()]
    );
    // An unknown key names its full path, under `config` too.
    for (yaml, want) in [
        (
            "selfservice:\n  methods:\n    totp:\n      config:\n        period: 30\n",
            "selfservice.methods.totp.config.period",
        ),
        (
            "selfservice:\n  methods:\n    totp:\n      colour: red\n",
            "selfservice.methods.totp.colour",
        ),
        (
            "selfservice:\n  methods:\n    webauthn:\n      config:\n        rp:\n          icon: x\n",
            "selfservice.methods.webauthn.config.rp",
        ),
    ] {
        std::fs::write(&path, yaml).expect("write");
        let e = Config::load(Some(&path), std::iter::empty()).expect_err(want);
        assert!(e.to_string().contains(want), "{e} (wanted {want})");
    }
}

#[test]
fn access_rules_repositories_take_oathkeepers_urls() {
    let c = Config::load(
        None,
        env(&[(
            "GATEHOUSE_ACCESS_RULES_REPOSITORIES",
            "file:///etc/rules.json,https://rules.example.com/rules.json,inline://W10=",
        )]),
    )
    .expect("valid");
    assert_eq!(c.access_rules.repositories.len(), 3);
    let e = Config::load(
        None,
        env(&[(
            "GATEHOUSE_ACCESS_RULES_REPOSITORIES",
            "s3://bucket/rules.json",
        )]),
    )
    .expect_err("bad");
    assert!(
        e.to_string().contains("access_rules.repositories[0]") && e.to_string().contains("s3://"),
        "{e}"
    );
}

#[test]
fn identity_keys_are_validated() {
    for (k, v) in [
        ("GATEHOUSE_SESSION_COOKIE_SAME_SITE", "sometimes"),
        ("GATEHOUSE_SESSION_COOKIE_NAME", "bad name"),
        ("GATEHOUSE_SESSION_WHOAMI_REQUIRED_AAL", "aal3"),
        ("GATEHOUSE_HASHERS_ARGON2_MEMORY_KIB", "16"),
        ("GATEHOUSE_SELFSERVICE_FLOWS_LOGIN_UI_URL", "not a url"),
    ] {
        let e = Config::load(None, env(&[(k, v)])).expect_err(k);
        assert!(e.to_string().contains('`'), "{e}");
    }
}

#[test]
fn redis_and_rate_limit_keys_are_validated() {
    let c = Config::load(
        None,
        env(&[
            ("GATEHOUSE_REDIS_URL", "redis://:pw@127.0.0.1:6380/2"),
            ("GATEHOUSE_ACCESS_RULES_RATE_LIMITS_PER_IP_PER_MINUTE", "60"),
            (
                "GATEHOUSE_ACCESS_RULES_RATE_LIMITS_TRUSTED_PROXIES",
                "10.0.0.0/8,127.0.0.1",
            ),
        ]),
    )
    .expect("valid");
    assert_eq!(
        c.redis.url.as_ref().map(SecretUrl::expose),
        Some("redis://:pw@127.0.0.1:6380/2")
    );
    assert_eq!(c.redis.channel, "gatehouse:invalidate");
    assert_eq!(c.access_rules.rate_limits.per_ip_per_minute, 60);
    assert_eq!(c.access_rules.rate_limits.trusted_proxies.len(), 2);
    assert!(c.access_rules.rate_limits.any());
    for (k, v, key) in [
        ("GATEHOUSE_REDIS_URL", "http://:secretpw@host", "redis.url"),
        ("GATEHOUSE_REDIS_URL", "redis://:secretpw@[::1", "redis.url"),
        ("GATEHOUSE_REDIS_CHANNEL", "two words", "redis.channel"),
        (
            "GATEHOUSE_ACCESS_RULES_RATE_LIMITS_TRUSTED_PROXIES",
            "10.0.0.0/99",
            "access_rules.rate_limits.trusted_proxies[0]",
        ),
        (
            "GATEHOUSE_ACCESS_RULES_RATE_LIMITS_PER_IP_PER_MINUTE",
            "-1",
            "access_rules.rate_limits",
        ),
    ] {
        let e = Config::load(None, env(&[(k, v)])).expect_err(k).to_string();
        assert!(e.contains(key), "{k}={v}: {e}");
        assert!(!e.contains("secretpw"), "the password is not repeated: {e}");
    }
    assert!(!Config::default().access_rules.rate_limits.any());
}

#[test]
fn durations() {
    assert_eq!(Dur::parse("1h30m").map(Dur::secs), Some(5400));
    assert_eq!(Dur::parse("720h").map(Dur::secs), Some(720 * 3600));
    assert_eq!(Dur::parse("45").map(Dur::secs), Some(45));
    assert_eq!(Dur::parse("1x"), None);
    assert_eq!(Dur::parse("h"), None);
}

#[test]
fn secrets_are_redacted_when_printed() {
    let c = Config::load(
        None,
        env(&[
            (
                "GATEHOUSE_SECRETS_SYSTEM",
                "first-secret-0123456789,second-secret-0123456789",
            ),
            ("GATEHOUSE_SERVE_ADMIN_AUTH_TOKEN", "admin-token-0123456789"),
            ("GATEHOUSE_DSN", "postgres://gh:dsn-password@db.internal/gh"),
            (
                "GATEHOUSE_REDIS_URL",
                "redis://:redis-password@127.0.0.1:6379/0",
            ),
            (
                "GATEHOUSE_COURIER_SMTP_CONNECTION_URI",
                "smtp://mailer:smtp-password@mail.example.com:2525/",
            ),
        ]),
    )
    .expect("valid");
    let v = serde_json::to_value(&c).expect("json");
    assert_eq!(
        v["secrets"]["system"],
        serde_json::json!(["<redacted>", "<redacted>"])
    );
    assert_eq!(v["serve"]["admin"]["auth"]["token"], "<redacted>");
    assert_eq!(v["dsn"], "postgres://gh:redacted@db.internal/gh");
    assert_eq!(v["redis"]["url"], "redis://:redacted@127.0.0.1:6379/0");
    assert_eq!(
        v["courier"]["smtp"]["connection_uri"],
        "smtp://mailer:redacted@mail.example.com:2525/"
    );
    let printed = format!("{v} {c:?}");
    for secret in [
        "first-secret",
        "second-secret",
        "admin-token",
        "dsn-password",
        "redis-password",
        "smtp-password",
    ] {
        assert!(!printed.contains(secret), "{secret} is printed");
    }
    assert_eq!(
        c.serve
            .admin
            .auth
            .token
            .as_ref()
            .map(|t| t.expose().as_str()),
        Some("admin-token-0123456789")
    );
    assert_eq!(
        c.database_url(),
        "postgres://gh:dsn-password@db.internal/gh"
    );
}

#[test]
fn values_are_parsed_into_their_types() {
    let c = Config::load(
        None,
        env(&[
            ("GATEHOUSE_KEYS_ALGORITHM", "EdDSA"),
            ("GATEHOUSE_LOG_FORMAT", "json"),
            ("GATEHOUSE_SESSION_COOKIE_SAME_SITE", "strict"),
            ("GATEHOUSE_ACCESS_RULES_MATCHING_STRATEGY", "glob"),
            (
                "GATEHOUSE_ACCESS_RULES_REPOSITORIES",
                "/etc/rules.json,inline://W10=",
            ),
            (
                "GATEHOUSE_ACCESS_RULES_RATE_LIMITS_TRUSTED_PROXIES",
                "10.0.0.0/8",
            ),
            (
                "GATEHOUSE_RATE_LIMITS_TRUSTED_PROXIES",
                "127.0.0.1,fd00::/8",
            ),
        ]),
    )
    .expect("valid");
    assert_eq!(c.keys.algorithm, gatehouse_crypto::Algorithm::EdDSA);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.session.cookie.same_site, SameSite::Strict);
    assert_eq!(c.session.cookie.same_site.to_string(), "Strict");
    assert_eq!(
        c.access_rules.matching_strategy,
        gatehouse_protocol::access_rule::Strategy::Glob
    );
    assert_eq!(
        c.access_rules.repositories,
        vec![
            gatehouse_protocol::rule_repository::Repository::Path("/etc/rules.json".into()),
            gatehouse_protocol::rule_repository::Repository::Inline("[]".into()),
        ]
    );
    let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
    let gw = &c.access_rules.rate_limits.trusted_proxies;
    assert!(gw.len() == 1 && gw[0].contains(ip("10.1.2.3")));
    let ss = &c.rate_limits.trusted_proxies;
    assert!(ss.len() == 2 && ss[0].contains(ip("127.0.0.1")) && ss[1].contains(ip("fd00::1")));

    let c = Config::load(
        None,
        env(&[(
            "GATEHOUSE_COURIER_SMTP_CONNECTION_URI",
            "smtps://mail.example.com/",
        )]),
    )
    .expect("valid");
    let smtp = c.courier.smtp.as_ref().expect("SMTP settings");
    assert_eq!(
        (smtp.host.as_str(), smtp.port, smtp.tls),
        ("mail.example.com", 465, TlsMode::Implicit)
    );
    assert_eq!(
        c.courier.from.to_string(),
        "Gatehouse <no-reply@gatehouse.local>"
    );

    let d = Config::default();
    assert!(d.courier.smtp.is_none());
    assert_eq!(d.keys.algorithm, gatehouse_crypto::Algorithm::ES256);
    assert_eq!(d.log.format, LogFormat::Text);
    assert_eq!(d.session.cookie.same_site, SameSite::Lax);
    assert_eq!(
        d.access_rules.matching_strategy,
        gatehouse_protocol::access_rule::Strategy::Regexp
    );
}

#[test]
fn typed_keys_name_themselves_when_refused() {
    for (var, value, want) in [
        (
            "GATEHOUSE_KEYS_ALGORITHM",
            "HS256",
            "`keys.algorithm`: expected ES256, RS256 or EdDSA",
        ),
        (
            "GATEHOUSE_LOG_FORMAT",
            "yaml",
            "`log.format`: expected text or json",
        ),
        (
            "GATEHOUSE_SESSION_COOKIE_SAME_SITE",
            "sometimes",
            "`session.cookie.same_site`: expected Lax, Strict or None",
        ),
        (
            "GATEHOUSE_ACCESS_RULES_MATCHING_STRATEGY",
            "exact",
            "`access_rules.matching_strategy`: expected regexp or glob",
        ),
        (
            "GATEHOUSE_RATE_LIMITS_TRUSTED_PROXIES",
            "127.0.0.1,10.0.0.0/40",
            "`rate_limits.trusted_proxies[1]`: expected an IP address or a CIDR range",
        ),
    ] {
        let e = Config::load(None, env(&[(var, value)])).expect_err(var);
        assert!(e.to_string().starts_with(want), "{var}={value}: {e}");
    }
}

/// `check-config` prints the resolved configuration in the document's shape: the built-in
/// defaults print as they are written, and a printed configuration without secrets reads back
/// as the same configuration.
#[test]
fn the_resolved_config_prints_as_a_document() {
    let raw = serde_json::to_value(RawConfig::default()).expect("json");
    let resolved = serde_json::to_value(Config::default()).expect("json");
    assert_eq!(resolved, raw);
    let c = Config::load(
        None,
        env(&[
            ("GATEHOUSE_KEYS_ALGORITHM", "RS256"),
            ("GATEHOUSE_SESSION_COOKIE_SAME_SITE", "None"),
            ("GATEHOUSE_ACCESS_RULES_MATCHING_STRATEGY", "glob"),
            (
                "GATEHOUSE_ACCESS_RULES_REPOSITORIES",
                "/etc/rules,https://rules.example.com/r.json,inline://W10=",
            ),
            ("GATEHOUSE_RATE_LIMITS_TRUSTED_PROXIES", "10.0.0.0/8,::1"),
            (
                "GATEHOUSE_COURIER_SMTP_CONNECTION_URI",
                "smtp://127.0.0.1:1025/?disable_starttls=true",
            ),
        ]),
    )
    .expect("valid");
    let printed = serde_json::to_value(&c).expect("json");
    assert_eq!(printed["keys"]["algorithm"], "RS256");
    assert_eq!(printed["session"]["cookie"]["same_site"], "None");
    assert_eq!(
        printed["access_rules"]["repositories"],
        serde_json::json!([
            "/etc/rules",
            "https://rules.example.com/r.json",
            "inline://W10="
        ])
    );
    assert_eq!(
        printed["rate_limits"]["trusted_proxies"],
        serde_json::json!(["10.0.0.0/8", "::1"])
    );
    assert_eq!(
        printed["courier"]["smtp"],
        serde_json::json!({
            "connection_uri": "smtp://127.0.0.1:1025/?disable_starttls=true",
            "from_address": "no-reply@gatehouse.local",
            "from_name": "Gatehouse",
        })
    );
    let again: RawConfig = serde_json::from_value(printed.clone()).expect("reads back");
    let again = serde_json::to_value(again.resolve().expect("valid")).expect("json");
    assert_eq!(again, printed);
}

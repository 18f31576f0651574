//! `/oauth2/token`, `/admin/oauth2/introspect`, `/oauth2/revoke`, `/userinfo`.

use gatehouse_crypto::jwt::UnverifiedJwt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Browser, REDIRECT, TestApp, VERIFIER, login_and_consent, query_param};

async fn client_credentials_opaque(app: TestApp) {
    let c = app.create_client(json!({"grant_types": ["client_credentials"], "scope": "read write", "audience": ["https://api.example"]})).await;
    let (status, body, headers) = app
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read"),
                ("audience", "https://api.example"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body.get("refresh_token").is_none());
    let at = body["access_token"].as_str().expect("token");
    assert!(at.starts_with("gat_"));

    let i = app.introspect(at).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["scope"], "read");
    assert_eq!(i["client_id"], c["client_id"]);
    assert_eq!(i["aud"], json!(["https://api.example"]));
    assert_eq!(i["token_use"], "access_token");
    // Hydra's `scope` parameter on introspection requires the scopes.
    let i: Value = app
        .http
        .post(format!("{}/admin/oauth2/introspect", app.admin))
        .form(&[("token", at), ("scope", "write")])
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(i["active"], false);

    // Revocation by the owning client makes it inactive at once.
    let resp = app
        .http
        .post(format!("{}/oauth2/revoke", app.public))
        .basic_auth(
            c["client_id"].as_str().unwrap_or_default(),
            c["client_secret"].as_str(),
        )
        .form(&[("token", at)])
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(app.introspect(at).await, json!({"active": false}));
    // A mistyped token is inactive (refused by its checksum, no database read).
    assert_eq!(app.introspect(&at.replace('a', "b")).await["active"], false);
}
both_backends!(client_credentials, client_credentials_opaque);

async fn client_credentials_errors(app: TestApp) {
    let c = app
        .create_client(json!({"grant_types": ["client_credentials"], "scope": "read"}))
        .await;
    let wrong = json!({"client_id": c["client_id"], "client_secret": "gcs_wrong"});
    let (status, body, headers) = app
        .token(&wrong, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert!(headers.contains_key("www-authenticate"));
    let unknown = json!({"client_id": "nobody", "client_secret": "x"});
    let (status, body, _) = app
        .token(&unknown, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body, _) = app
        .token(
            &c,
            &[("grant_type", "client_credentials"), ("scope", "admin")],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, body, _) = app.token(&c, &[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let (status, body, _) = app
        .token(
            &c,
            &[("grant_type", "authorization_code"), ("code", "gac_x")],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    let (status, body, _) = app
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("audience", "https://other.example"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
    // client_secret_post is refused for a client registered for client_secret_basic.
    let resp = app
        .http
        .post(format!("{}/oauth2/token", app.public))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c["client_id"].as_str().unwrap_or_default()),
            (
                "client_secret",
                c["client_secret"].as_str().unwrap_or_default(),
            ),
        ])
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
both_backends!(token_errors, client_credentials_errors);

async fn jwt_access_tokens(app: TestApp) {
    let c = app.create_client(json!({"grant_types": ["client_credentials"], "scope": "read", "access_token_strategy": "jwt"})).await;
    let (status, body, _) = app
        .token(
            &c,
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let at = body["access_token"].as_str().expect("token");
    let jwks: gatehouse_crypto::jwk::Jwks = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.public))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("jwks");
    let jwt = UnverifiedJwt::parse(at).expect("a JWT");
    assert_eq!(jwt.header.typ.as_deref(), Some("at+jwt"));
    let claims = jwt.verify(&jwks.keys).expect("verifies against the JWKS");
    assert_eq!(claims["iss"], app.issuer());
    assert_eq!(claims["client_id"], c["client_id"]);
    assert_eq!(claims["scope"], "read");
    assert!(claims["exp"].as_i64().is_some() && claims["jti"].as_str().is_some());
    assert_eq!(app.introspect(at).await["active"], true);
}
both_backends!(jwt_strategy, jwt_access_tokens);

async fn authorization_code_refresh_and_reuse(app: TestApp) {
    let c = app.web_client().await;
    let mut browser = Browser::default();
    let back = login_and_consent(&app, &mut browser, &c, "", false).await;
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st4te1234"));
    assert_eq!(query_param(&back, "iss").as_deref(), Some(app.issuer()));
    let code = query_param(&back, "code").expect("code");

    // PKCE: the wrong verifier fails (and burns the code).
    let exchange = |verifier: &'static str, code: String| {
        let app = &app;
        let c = &c;
        async move {
            app.token(
                c,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let (status, body, _) = exchange(VERIFIER, code.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let at = body["access_token"].as_str().expect("at").to_owned();
    let rt = body["refresh_token"].as_str().expect("rt").to_owned();
    let id_token = body["id_token"].as_str().expect("id_token");

    let jwks: gatehouse_crypto::jwk::Jwks = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.public))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("jwks");
    let claims = UnverifiedJwt::parse(id_token)
        .expect("jwt")
        .verify(&jwks.keys)
        .expect("signature");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], json!([c["client_id"]]));
    assert_eq!(claims["nonce"], "n0nce1234");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["acr"], "1");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(claims["sid"].as_str().is_some() && claims["auth_time"].as_i64().is_some());
    assert_eq!(claims["at_hash"].as_str().map(str::len), Some(22));

    let info: Value = app
        .http
        .get(format!("{}/userinfo", app.public))
        .bearer_auth(&at)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(info, json!({"sub": "alice", "email": "alice@example.com"}));
    let i = app.introspect(&at).await;
    assert_eq!(i["ext"], json!({"team": "blue"}));

    // The code is single-use; reusing it revokes what it issued.
    let (status, body, _) = exchange(VERIFIER, code.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        app.introspect(&at).await["active"],
        false,
        "code reuse revoked the access token"
    );
    assert_eq!(
        app.introspect(&rt).await["active"],
        false,
        "and the refresh token"
    );

    // A fresh grant: refresh rotates; reusing the old refresh token revokes the family.
    let back = login_and_consent(&app, &mut browser, &c, "", false).await;
    let code = query_param(&back, "code").expect("code");
    let (_, body, _) = exchange(VERIFIER, code).await;
    let rt1 = body["refresh_token"].as_str().expect("rt").to_owned();
    let (status, body, _) = app
        .token(
            &c,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rt2 = body["refresh_token"].as_str().expect("rotated").to_owned();
    assert_ne!(rt1, rt2);
    assert!(body["id_token"].as_str().is_some());
    let at2 = body["access_token"].as_str().expect("at").to_owned();
    let (status, body, _) = app
        .token(
            &c,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        app.introspect(&rt2).await["active"],
        false,
        "reuse revoked the newest refresh token"
    );
    assert_eq!(
        app.introspect(&at2).await["active"],
        false,
        "and its access token"
    );
}
both_backends!(code_flow, authorization_code_refresh_and_reuse);

async fn pkce_and_redirect_binding(app: TestApp) {
    let c = app.web_client().await;
    let mut browser = Browser::default();
    let back = login_and_consent(&app, &mut browser, &c, "", false).await;
    let code = query_param(&back, "code").expect("code");
    let (status, body, _) = app
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", "x".repeat(43).as_str()),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let back = login_and_consent(&app, &mut browser, &c, "", false).await;
    let code = query_param(&back, "code").expect("code");
    let (status, body, _) = app
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://app.example.com/other"),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // A code is bound to its client.
    let other = app.web_client().await;
    let back = login_and_consent(&app, &mut browser, &c, "", false).await;
    let code = query_param(&back, "code").expect("code");
    let (status, body, _) = app
        .token(
            &other,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}
both_backends!(pkce, pkce_and_redirect_binding);

#[tokio::test]
async fn refresh_grace_period_allows_a_concurrent_retry() {
    let app = TestApp::spawn_with(crate::harness::Backend::Sqlite, |c| {
        c.oauth2.grant.refresh_token.rotation_grace_period =
            gatehouse::config::Dur(std::time::Duration::from_secs(30))
    })
    .await;
    let c = app.web_client().await;
    let mut browser = Browser::default();
    let back = login_and_consent(&app, &mut browser, &c, "", false).await;
    let code = query_param(&back, "code").expect("code");
    let (_, body, _) = app
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    let rt = body["refresh_token"].as_str().expect("rt").to_owned();
    let (s1, _, _) = app
        .token(
            &c,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
    let (s2, b2, _) = app
        .token(
            &c,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{b2}");
}

async fn userinfo_needs_a_valid_token(app: TestApp) {
    let resp = app
        .http
        .get(format!("{}/userinfo", app.public))
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let resp = app
        .http
        .get(format!("{}/userinfo", app.public))
        .bearer_auth("gat_nope")
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap_or_default()
            .contains("invalid_token")
    );
}
both_backends!(userinfo, userinfo_needs_a_valid_token);

async fn private_key_jwt_client_authentication(app: TestApp) {
    use gatehouse_crypto::{Algorithm, SigningKey, jwt};
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let c = app
        .create_client(json!({"grant_types": ["client_credentials"], "scope": "read", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.public_jwk()]}}))
        .await;
    assert!(
        c.get("client_secret").is_none(),
        "no secret for private_key_jwt"
    );
    let id = c["client_id"].as_str().expect("id").to_owned();
    let now = gatehouse::clock::now();
    let assertion = |jti: &str, aud: String, key: &SigningKey| {
        jwt::sign(
            key,
            None,
            &json!({"iss": id, "sub": id, "aud": aud, "exp": now + 60, "iat": now, "jti": jti}),
        )
    };
    let token_url = format!("{}/oauth2/token", app.public);
    let post = |a: String| {
        let app = &app;
        let url = token_url.clone();
        async move {
            let resp = app
                .http
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", a.as_str()),
                ])
                .send()
                .await
                .expect("req");
            (
                resp.status(),
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let a1 = assertion("jti-1", token_url.clone(), &key);
    let (status, body) = post(a1.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Replay of the same assertion (same jti) is refused.
    let (status, body) = post(a1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // Wrong audience, or a key the client never registered.
    let (status, _) = post(assertion(
        "jti-2",
        "https://elsewhere.example/token".into(),
        &key,
    ))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let other = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let (status, _) = post(assertion("jti-3", token_url.clone(), &other)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
both_backends!(private_key_jwt, private_key_jwt_client_authentication);

/// `POST /oauth2/introspect` on the public listener (RFC 7662), advertised in the metadata: a
/// resource server authenticates as its own client and learns about tokens issued for an
/// audience it may see, or its own tokens; any other token, and any token for an
/// unauthenticated or public caller, tells it nothing.
async fn public_introspection(app: TestApp) {
    let (_, meta) = {
        let r = app
            .http
            .get(format!("{}/.well-known/openid-configuration", app.public))
            .send()
            .await
            .expect("request");
        (r.status(), r.json::<Value>().await.expect("json"))
    };
    assert_eq!(
        meta["introspection_endpoint"],
        format!("{}/oauth2/introspect", app.public)
    );
    assert!(
        !meta["introspection_endpoint_auth_methods_supported"]
            .as_array()
            .expect("methods")
            .contains(&json!("none"))
    );
    let api = "https://api.example";
    let app_client = app
        .create_client(
            json!({"grant_types": ["client_credentials"], "scope": "read", "audience": [api]}),
        )
        .await;
    let rs = app
        .create_client(
            json!({"grant_types": ["client_credentials"], "scope": "read", "audience": [api]}),
        )
        .await;
    let other = app
        .create_client(json!({"grant_types": ["client_credentials"], "scope": "read"}))
        .await;
    let public = app
        .create_client(json!({"grant_types": ["authorization_code"], "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .await;
    let (status, body, _) = app
        .token(
            &app_client,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read"),
                ("audience", api),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let at = body["access_token"].as_str().expect("token").to_owned();
    let ask = |c: &Value, basic: bool| {
        let mut req = app
            .http
            .post(format!("{}/oauth2/introspect", app.public))
            .form(&[("token", at.as_str())]);
        let id = c["client_id"].as_str().unwrap_or_default().to_owned();
        if basic {
            req = req.basic_auth(id, c["client_secret"].as_str());
        } else {
            req = req.form(&[("token", at.as_str()), ("client_id", id.as_str())]);
        }
        async move {
            let r = req.send().await.expect("request");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // The resource server of the token's audience sees it; so does the client it was issued to.
    let (status, seen) = ask(&rs, true).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["aud"], json!([api]));
    assert_eq!(ask(&app_client, true).await.1["active"], true);
    // Another client does not.
    assert_eq!(ask(&other, true).await.1, json!({"active": false}));
    // A wrong secret, no authentication, or a public client: invalid_client.
    let wrong = json!({"client_id": rs["client_id"], "client_secret": "gcs_wrong"});
    let (status, body) = ask(&wrong, true).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body) = ask(&public, false).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{body}"
    );
    let r = app
        .http
        .post(format!("{}/oauth2/introspect", app.public))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Hydra's admin endpoint is unchanged.
    assert_eq!(app.introspect(&at).await["active"], true);
}
both_backends!(
    public_introspection_for_resource_servers,
    public_introspection
);

/// Fail closed: a token row whose stored grant cannot be read introspects as an error (500),
/// never as an active token with an empty grant.
async fn corrupt_grant(app: TestApp) {
    let c = app
        .create_client(json!({"grant_types": ["client_credentials"], "scope": "read"}))
        .await;
    let token = gatehouse_crypto::PlainToken::generate(gatehouse_crypto::TokenKind::AccessToken);
    let now = gatehouse::clock::now();
    app.app
        .store
        .insert_token(&gatehouse_store::TokenRow {
            hash: token.hash().to_hex(),
            kind: "access_token".into(),
            client_id: c["client_id"].as_str().expect("id").to_owned(),
            subject: Some("someone".into()),
            family_id: "f".into(),
            session_id: None,
            data: "{not json".into(),
            created_at: now,
            expires_at: now + 3600,
            revoked: false,
            used_at: None,
        })
        .await
        .expect("insert");
    let resp = app
        .http
        .post(format!("{}/admin/oauth2/introspect", app.admin))
        .form(&[("token", token.expose())])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = resp.json().await.expect("json");
    assert_ne!(body["active"], true, "{body}");
}
both_backends!(
    a_corrupt_stored_grant_never_introspects_as_active,
    corrupt_grant
);

/// Fail closed, and no false accusation: at `private_key_jwt` client authentication only a jti
/// recorded already is a replay (`invalid_client`); a database that fails to record a fresh jti
/// is a server error (500), never a plain `invalid_client` ("assertion replayed").
async fn assertion_replay_vs_database_error(app: TestApp) {
    use gatehouse_crypto::{Algorithm, SigningKey, jwt};
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let c = app
        .create_client(json!({"grant_types": ["client_credentials"], "scope": "read", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key.public_jwk()]}}))
        .await;
    let id = c["client_id"].as_str().expect("id").to_owned();
    let token_url = format!("{}/oauth2/token", app.public);
    let post = |jti: &str| {
        let now = gatehouse::clock::now();
        let a = jwt::sign(
            &key,
            None,
            &json!({"iss": id, "sub": id, "aud": token_url, "exp": now + 60, "iat": now, "jti": jti}),
        );
        let app = &app;
        let url = token_url.clone();
        async move {
            let resp = app
                .http
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", a.as_str()),
                ])
                .send()
                .await
                .expect("req");
            (
                resp.status(),
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = post("once").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = post("once").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "a replay: {body}"
    );

    // The database now refuses to record any jti.
    let refuse = match app.app.store.backend() {
        "sqlite" => {
            "CREATE TRIGGER refuse_jti BEFORE INSERT ON oauth2_tokens WHEN NEW.kind = 'assertion_jti' \
             BEGIN SELECT RAISE(ABORT, 'the disk is on fire'); END;"
        }
        _ => {
            "CREATE FUNCTION refuse_jti() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.kind = 'assertion_jti' THEN RAISE EXCEPTION 'the disk is on fire'; END IF; RETURN NEW; END $$; \
             CREATE TRIGGER refuse_jti BEFORE INSERT ON oauth2_tokens FOR EACH ROW EXECUTE FUNCTION refuse_jti();"
        }
    };
    app.sql(refuse).await;
    let (status, body) = post("fresh").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("server_error")),
        "a database failure: {body}"
    );
}
both_backends!(
    a_failing_database_is_a_server_error_not_an_assertion_replay,
    assertion_replay_vs_database_error
);

/// Fail closed, and no false accusation: when the client's `jwks_uri` cannot be fetched (here:
/// nothing listens there), its assertion could not be checked, which is a server error (500,
/// Hydra's `server_error`), not a plain `invalid_client`.
async fn unreachable_jwks_uri(backend: crate::harness::Backend) {
    use gatehouse_crypto::{Algorithm, SigningKey, jwt};
    let Some(app) = TestApp::spawn_on(backend, |c| {
        c.clients.http.disallow_private_ip_ranges = false
    })
    .await
    else {
        return;
    };
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let c = app
        .create_client(json!({"grant_types": ["client_credentials"], "scope": "read", "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": format!("http://127.0.0.1:{closed}/jwks.json")}))
        .await;
    let id = c["client_id"].as_str().expect("id");
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let now = gatehouse::clock::now();
    let assertion = jwt::sign(
        &key,
        None,
        &json!({"iss": id, "sub": id, "aud": format!("{}/oauth2/token", app.public), "exp": now + 60, "iat": now, "jti": "j1"}),
    );
    let resp = app
        .http
        .post(format!("{}/oauth2/token", app.public))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .expect("req");
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("server_error")),
        "{body}"
    );
}
both_backends!(
    backend an_unreachable_jwks_uri_is_a_server_error_not_invalid_client,
    unreachable_jwks_uri
);

//! Personal access tokens, API keys and service tokens over real HTTP: the user API
//! (session-authenticated), the admin API, `POST /credentials/validate` and its header form,
//! introspection, organisations, and every refusal (malformed, wrong checksum, unknown,
//! expired, revoked, insufficient scope, CSRF, stale session).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Backend, TestApp};

const PASSWORD: &str = "correct horse battery staple";

/// A session token for a fresh identity; returns (identity id, session token).
async fn user(app: &TestApp, email: &str) -> (String, String) {
    let identity = app.create_identity(email, PASSWORD).await;
    let flow: Value = app
        .http
        .get(format!("{}/self-service/login/api", app.public))
        .send()
        .await
        .expect("flow")
        .json()
        .await
        .expect("json");
    let resp = app
        .http
        .post(flow["ui"]["action"].as_str().expect("action"))
        .json(&json!({"method": "password", "identifier": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    (
        identity["id"].as_str().expect("id").to_owned(),
        body["session_token"].as_str().expect("token").to_owned(),
    )
}

/// A call on the public credentials API with a session token.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    session: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.public))
        .header("X-Session-Token", session);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn validate(app: &TestApp, token: &str, scope: Option<&str>) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(format!("{}/credentials/validate", app.public))
        .json(&json!({"token": token, "required_scope": scope}))
        .send()
        .await
        .expect("validate");
    let status = resp.status();
    (status, resp.json().await.expect("json"))
}

async fn audit_kinds(app: &TestApp) -> Vec<String> {
    app.app.audit.flush(std::time::Duration::from_secs(5)).await;
    let (status, list) = app.admin_get("/admin/audit-events?limit=500").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array()
        .expect("array")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn pat_lifecycle(app: TestApp) {
    let (uid, session) = user(&app, "pat-owner@example.com").await;

    let (status, created) = call(
        &app,
        Method::POST,
        "/credentials/tokens",
        &session,
        Some(json!({"name": "CLI Development", "scopes": ["read:resources", "write:resources"], "expires_in": "30d"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"]
        .as_str()
        .expect("token shown once")
        .to_owned();
    assert!(
        token.starts_with("pat_") && token.len() == 4 + 43 + 6,
        "{token}"
    );
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["kind"], "pat");
    assert_eq!(created["owner"], uid.as_str());
    assert_eq!(created["state"], "active");
    assert!(created["expires_at"].is_string());
    assert!(token.starts_with(created["hint"].as_str().expect("hint")));

    // Listed without the secret.
    let (status, list) = call(&app, Method::GET, "/credentials/tokens", &session, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().expect("array").len(), 1);
    assert!(list[0].get("token").is_none(), "{list}");
    assert!(
        !list.to_string().contains(&token[4..]),
        "secret never listed"
    );

    // Valid, with the right scope; refused for another.
    let (status, v) = validate(&app, &token, Some("read:resources")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["valid"], true);
    assert_eq!(v["kind"], "pat");
    assert_eq!(v["subject"], uid.as_str());
    assert_eq!(v["user_id"], uid.as_str());
    assert_eq!(v["id"], id.as_str());
    let (status, v) = validate(&app, &token, Some("admin:billing")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"], "insufficient_scope");
    assert_eq!(v["valid"], false);

    // The header form (nginx auth_request): identity headers on 200.
    let resp = app
        .http
        .get(format!(
            "{}/credentials/validate?required_scope=write:resources",
            app.public
        ))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("validate");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-user-id"], uid.as_str());
    assert_eq!(resp.headers()["x-token-id"], id.as_str());
    assert_eq!(
        resp.headers()["x-token-scopes"],
        "read:resources write:resources"
    );
    let resp = app
        .http
        .get(format!("{}/credentials/validate", app.public))
        .header("X-API-Key", &token)
        .send()
        .await
        .expect("validate");
    assert_eq!(resp.status(), StatusCode::OK);

    // last_used_at is written by the batch, not the request.
    app.app.state.credentials.usage.flush().await;
    let (_, got) = call(
        &app,
        Method::GET,
        &format!("/credentials/tokens/{id}"),
        &session,
        None,
    )
    .await;
    assert!(got["last_used_at"].is_string(), "{got}");
    assert_eq!(got["last_used_ip"], "127.0.0.1");

    // Regenerate: a new secret, same settings; the old one stops at once.
    let (status, again) = call(
        &app,
        Method::POST,
        &format!("/credentials/tokens/{id}/regenerate"),
        &session,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let token2 = again["token"].as_str().expect("token").to_owned();
    assert_ne!(token, token2);
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["scopes"], created["scopes"]);
    assert_eq!(
        validate(&app, &token, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        validate(&app, &token2, Some("read:resources")).await.0,
        StatusCode::OK
    );

    // Revoke with a reason: refused at once, kept in the history.
    let (status, revoked) = call(
        &app,
        Method::POST,
        &format!("/credentials/tokens/{id}/revoke"),
        &session,
        Some(json!({"reason": "Leaked in a CI log"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["state"], "revoked");
    let (status, v) = validate(&app, &token2, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "invalid_token");
    let (_, list) = call(&app, Method::GET, "/credentials/tokens", &session, None).await;
    assert_eq!(list[0]["state"], "revoked");
    assert_eq!(list[0]["revoked_reason"], "Leaked in a CI log");
    // A revoked credential cannot be regenerated back to life.
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/credentials/tokens/{id}/regenerate"),
        &session,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let kinds = audit_kinds(&app).await;
    for k in [
        "credential.created",
        "credential.regenerated",
        "credential.revoked",
        "credential.validation_failed",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
}
both_backends!(pat_lifecycle_works, pat_lifecycle);

async fn refusals(app: TestApp) {
    let (_, session) = user(&app, "refusals@example.com").await;
    let (_, created) = call(
        &app,
        Method::POST,
        "/credentials/tokens",
        &session,
        Some(json!({"name": "t", "scopes": ["read:x"]})),
    )
    .await;
    let token = created["token"].as_str().expect("token").to_owned();

    // A typo is caught by the checksum; an unknown but well-formed token by the lookup.
    let mut typo: Vec<char> = token.chars().collect();
    typo[10] = if typo[10] == 'a' { 'b' } else { 'a' };
    let typo: String = typo.into_iter().collect();
    let unknown =
        gatehouse_crypto::PlainToken::generate(gatehouse_crypto::TokenKind::PersonalAccessToken);
    let access = gatehouse_crypto::PlainToken::generate(gatehouse_crypto::TokenKind::AccessToken);
    for bad in [
        "",
        "pat_",
        "nonsense",
        &typo,
        unknown.expose(),
        access.expose(),
        &"pat_".repeat(1000),
    ] {
        let (status, v) = validate(&app, bad, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}: {v}");
        assert_eq!(v["error"], "invalid_token", "{bad}");
    }
    // Malformed tokens are audited in aggregate by the usage flusher (no write per request).
    app.app.state.credentials.usage.flush().await;
    app.app.audit.flush(std::time::Duration::from_secs(5)).await;
    let (_, events) = app
        .admin_get("/admin/audit-events?kind=credential.validation_failed&limit=100")
        .await;
    let events = events.as_array().expect("array").clone();
    assert!(
        events
            .iter()
            .any(|e| e["data"]["reason"] == "malformed" && e["data"]["count"].as_u64() >= Some(5)),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e["data"]["reason"] == "unknown"),
        "{events:?}"
    );

    // A malformed required scope is a bad request, not a verdict.
    let (status, _) = validate(&app, &token, Some("NOT A SCOPE")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A body that is not the expected JSON.
    let resp = app
        .http
        .post(format!("{}/credentials/validate", app.public))
        .body("token=abc")
        .send()
        .await
        .expect("validate");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Expiry: a credential issued for one second.
    let (status, short) = app
        .admin(
            Method::POST,
            "/admin/credentials",
            Some(json!({"kind": "service_token", "owner": "short-lived", "name": "s", "scopes": ["read:x"], "expires_in": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{short}");
    let short = short["token"].as_str().expect("token").to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, v) = validate(&app, &short, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "token_expired");
}
both_backends!(every_refusal_has_its_error, refusals);

async fn bad_requests(app: TestApp) {
    let (_, session) = user(&app, "bad-input@example.com").await;
    for (body, why) in [
        (json!({"name": "", "scopes": ["read:x"]}), "empty name"),
        (
            json!({"name": "x".repeat(101), "scopes": ["read:x"]}),
            "long name",
        ),
        (
            json!({"name": "a\u{7}b", "scopes": ["read:x"]}),
            "control character",
        ),
        (json!({"name": "n", "scopes": []}), "no scopes"),
        (json!({"name": "n", "scopes": ["Read:X"]}), "upper case"),
        (json!({"name": "n", "scopes": ["read"]}), "no resource"),
        (
            json!({"name": "n", "scopes": ["delete:x"]}),
            "outside the catalogue",
        ),
        (
            json!({"name": "n", "scopes": ["read:x"], "expires_in": -5}),
            "negative lifetime",
        ),
        (
            json!({"name": "n", "scopes": ["read:x"], "expires_in": "soon"}),
            "bad duration",
        ),
        (
            json!({"name": "n", "scopes": ["read:x"], "kind": "service_token"}),
            "kind is implied",
        ),
        (
            json!({"name": "n", "scopes": ["read:x"], "surprise": 1}),
            "unknown field",
        ),
    ] {
        let (status, v) = call(
            &app,
            Method::POST,
            "/credentials/tokens",
            &session,
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {v}");
    }
    // A user without the admin role cannot mint admin scopes.
    let (status, v) = call(
        &app,
        Method::POST,
        "/credentials/tokens",
        &session,
        Some(json!({"name": "n", "scopes": ["admin:billing"]})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");

    for (body, why) in [
        (
            json!({"kind": "nope", "owner": "x", "name": "n", "scopes": ["read:x"]}),
            "unknown kind",
        ),
        (
            json!({"kind": "service_token", "owner": "Bad Name!", "name": "n", "scopes": ["read:x"]}),
            "bad service name",
        ),
        (
            json!({"kind": "api_key", "owner": "no-such-org", "name": "n", "scopes": ["read:x"]}),
            "unknown org",
        ),
        (
            json!({"kind": "pat", "owner": "00000000-0000-4000-8000-000000000000", "name": "n", "scopes": ["read:x"]}),
            "unknown identity",
        ),
        (
            json!({"kind": "service_token", "name": "n", "scopes": ["read:x"]}),
            "no owner",
        ),
    ] {
        let (status, v) = app
            .admin(Method::POST, "/admin/credentials", Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {v}");
    }
    let (status, _) = app.admin_get("/admin/credentials/not-a-credential").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
both_backends!(bad_input_is_refused_with_a_reason, bad_requests);

async fn policy(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |c| {
        c.credentials.max_lifetime = gatehouse::config::Dur::parse("30d");
        c.credentials.default_lifetime = gatehouse::config::Dur::parse("7d");
    })
    .await
    else {
        return;
    };
    let svc = |expires: Value| json!({"kind": "service_token", "owner": "billing", "name": "n", "scopes": ["read:x"], "expires_in": expires});
    let (status, v) = app
        .admin(
            Method::POST,
            "/admin/credentials",
            Some(svc(json!("never"))),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "never is refused under a maximum: {v}"
    );
    let (status, _) = app
        .admin(Method::POST, "/admin/credentials", Some(svc(json!("31d"))))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, v) = app
        .admin(Method::POST, "/admin/credentials", Some(svc(Value::Null)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v) = app
        .admin(Method::POST, "/admin/credentials", Some(svc(json!("30d"))))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
}
both_backends!(backend lifetime_policy_is_enforced, policy);

async fn roles_bound_pats(app: TestApp) {
    let (uid, session) = user(&app, "roles@example.com").await;
    // Made an admin: admin scopes become available.
    let (status, v) = app
        .admin(
            Method::PATCH,
            &format!("/admin/identities/{uid}"),
            Some(json!([{"op": "add", "path": "/metadata_public", "value": {"roles": ["admin"]}}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, created) = call(
        &app,
        Method::POST,
        "/credentials/tokens",
        &session,
        Some(json!({"name": "billing", "scopes": ["admin:billing", "read:users"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().expect("token").to_owned();
    assert_eq!(
        validate(&app, &token, Some("admin:billing")).await.0,
        StatusCode::OK
    );

    // Demoted: the token loses admin:billing at once (the cached verdict is purged), keeps the rest.
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/admin/identities/{uid}"),
            Some(json!([{"op": "replace", "path": "/metadata_public", "value": {"roles": []}}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = validate(&app, &token, Some("admin:billing")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, v) = validate(&app, &token, Some("read:users")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["scopes"], json!(["read:users"]));

    // Deactivated: refused; deleted: its tokens are revoked.
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/admin/identities/{uid}"),
            Some(json!([{"op": "replace", "path": "/state", "value": "inactive"}])),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        validate(&app, &token, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = app
        .admin(Method::DELETE, &format!("/admin/identities/{uid}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, row) = app
        .admin_get(&format!(
            "/admin/credentials/{}",
            created["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(row["state"], "revoked", "{row}");
    assert_eq!(row["revoked_reason"], "Identity deleted");
}
both_backends!(pats_stay_within_their_owners_roles, roles_bound_pats);

async fn organizations(app: TestApp) {
    let (alice, alice_s) = user(&app, "org-admin@example.com").await;
    let (bob, bob_s) = user(&app, "org-member@example.com").await;
    let (_, carol_s) = user(&app, "stranger@example.com").await;

    let (status, org) = app
        .admin(
            Method::POST,
            "/admin/organizations",
            Some(json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let org_id = org["id"].as_str().expect("id").to_owned();
    let (status, _) = app
        .admin(
            Method::POST,
            "/admin/organizations",
            Some(json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    for (who, role) in [(&alice, "admin"), (&bob, "member")] {
        let (status, v) = app
            .admin_put(
                &format!("/admin/organizations/{org_id}/members/{who}"),
                json!({"role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let (status, _) = app
        .admin_put(
            &format!("/admin/organizations/{org_id}/members/{bob}"),
            json!({"role": "owner"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, mine) = call(
        &app,
        Method::GET,
        "/credentials/organizations",
        &alice_s,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine[0]["role"], "admin");

    let keys = format!("/credentials/organizations/{org_id}/keys");
    let body = json!({"name": "Partner sync", "scopes": ["read:resources"], "expires_in": "90d"});
    let (status, key) = call(&app, Method::POST, &keys, &alice_s, Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let secret = key["token"].as_str().expect("token").to_owned();
    assert!(secret.starts_with("key_"));
    assert_eq!(
        call(&app, Method::POST, &keys, &bob_s, Some(body.clone()))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, Method::POST, &keys, &carol_s, Some(body.clone()))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, Method::GET, &keys, &carol_s, None).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, list) = call(&app, Method::GET, &keys, &alice_s, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().expect("array").len(), 1);

    let resp = app
        .http
        .get(format!(
            "{}/credentials/validate?required_scope=read:resources",
            app.public
        ))
        .header("X-API-Key", &secret)
        .send()
        .await
        .expect("validate");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-org-id"], org_id.as_str());
    assert_eq!(resp.headers()["x-key-id"], key["id"].as_str().expect("id"));
    assert_eq!(resp.headers()["x-key-scopes"], "read:resources");
    assert_eq!(resp.headers()["x-user-id"], "", "no user for an API key");

    // A key of another organisation is not reachable through this one's path.
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/credentials/organizations/{org_id}/keys/00000000-0000-4000-8000-000000000000"),
        &alice_s,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting the organisation revokes its keys.
    let (status, _) = app
        .admin(
            Method::DELETE,
            &format!("/admin/organizations/{org_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        validate(&app, &secret, None).await.0,
        StatusCode::UNAUTHORIZED
    );
}
both_backends!(organizations_own_api_keys, organizations);

async fn service_tokens_and_introspection(app: TestApp) {
    let (status, svc) = app
        .admin(
            Method::POST,
            "/admin/credentials",
            Some(json!({"kind": "service_token", "owner": "billing-worker", "name": "billing", "scopes": ["read:*"], "expires_in": "never"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{svc}");
    let token = svc["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("svc_"));
    assert!(svc["expires_at"].is_null());

    let resp = app
        .http
        .get(format!(
            "{}/credentials/validate?required_scope=read:invoices",
            app.public
        ))
        .header("Authorization", format!("bearer {token}"))
        .send()
        .await
        .expect("validate");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-service-name"], "billing-worker");
    assert_eq!(resp.headers()["x-service-scopes"], "read:*");
    let (status, v) = validate(&app, &token, Some("write:invoices")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "read:* never grants write: {v}"
    );

    let i = app.introspect(&token).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["sub"], "billing-worker");
    assert_eq!(i["scope"], "read:*");
    assert_eq!(i["token_type"], "service_token");

    let (status, list) = app.admin_get("/admin/credentials?kind=service_token").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().expect("array").len(), 1);

    let id = svc["id"].as_str().expect("id");
    let (status, _) = app
        .admin(
            Method::DELETE,
            &format!("/admin/credentials/{id}?reason=rotated"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.introspect(&token).await["active"], false);
    let (_, row) = app.admin_get(&format!("/admin/credentials/{id}")).await;
    assert_eq!(row["revoked_reason"], "rotated");
}
both_backends!(
    service_tokens_validate_and_introspect,
    service_tokens_and_introspection
);

async fn session_api_guards(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |c| {
        c.selfservice.flows.settings.privileged_session_max_age =
            gatehouse::config::Dur(std::time::Duration::from_secs(1));
    })
    .await
    else {
        return;
    };
    let (_, session) = user(&app, "guards@example.com").await;
    let body = json!({"name": "n", "scopes": ["read:x"]}).to_string();

    // A session cookie alone, with a body a cross-site form could send: refused.
    let resp = app
        .http
        .post(format!("{}/credentials/tokens", app.public))
        .header("Cookie", format!("gatehouse_session={session}"))
        .header("Content-Type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["id"], "security_csrf_violation", "{v}");

    // No session at all.
    let resp = app
        .http
        .post(format!("{}/credentials/tokens", app.public))
        .json(&json!({"name": "n", "scopes": ["read:x"]}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // An old login may list, not mint.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, v) = call(
        &app,
        Method::POST,
        "/credentials/tokens",
        &session,
        Some(json!({"name": "n", "scopes": ["read:x"]})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["id"], "session_refresh_required");
    assert_eq!(
        call(&app, Method::GET, "/credentials/tokens", &session, None)
            .await
            .0,
        StatusCode::OK
    );
}
both_backends!(backend the_session_api_is_guarded, session_api_guards);

/// `gatehouse tokens create|list|revoke` on the database directly; the server then honours them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tokens_cli_issues_lists_and_revokes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEHOUSE_DATA_DIR", dir.path())
            .env("GATEHOUSE_LOG", "warn")
            .output()
            .expect("run the CLI");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let create = |name: &str| {
        let (ok, stdout, stderr) = cli(&[
            "tokens",
            "create",
            "--owner",
            "ci-deployer",
            "--name",
            name,
            "--scope",
            "write:deployments",
            "--expires-in",
            "30d",
        ]);
        assert!(ok, "{stderr}");
        serde_json::from_str::<Value>(&stdout).expect("JSON")
    };
    let kept = create("kept");
    let gone = create("gone");
    assert!(kept["token"].as_str().expect("token").starts_with("svc_"));
    let (ok, list, _) = cli(&["tokens", "list", "--kind", "service_token"]);
    assert!(ok);
    assert!(
        list.contains(kept["id"].as_str().expect("id")) && list.contains("ci-deployer"),
        "{list}"
    );
    let (ok, _, stderr) = cli(&[
        "tokens",
        "revoke",
        gone["id"].as_str().expect("id"),
        "--reason",
        "rotated",
    ]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = cli(&[
        "tokens", "create", "--owner", "Bad Name", "--name", "x", "--scope", "read:x",
    ]);
    assert!(!ok && stderr.contains("service name"), "{stderr}");

    let path = dir.path().to_owned();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.data_dir = path).await;
    let (status, v) = validate(
        &app,
        kept["token"].as_str().expect("token"),
        Some("write:deployments"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["service_name"], "ci-deployer");
    let (status, _) = validate(&app, gone["token"].as_str().expect("token"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Fail closed: a credential whose stored scopes cannot be read is an error at validation and in
/// the admin API, never a valid credential with no scopes.
async fn unreadable_scopes(app: TestApp) {
    let (status, svc) = app
        .admin(
            Method::POST,
            "/admin/credentials",
            Some(json!({"kind": "service_token", "owner": "worker", "name": "w", "scopes": ["read:*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{svc}");
    let token = svc["token"].as_str().expect("token");
    let id = svc["id"].as_str().expect("id");
    app.sql(&format!(
        "UPDATE credentials SET scopes = 'read:*' WHERE id = '{id}'"
    ))
    .await;
    let (status, v) = validate(&app, token, None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    let (status, v) = app.admin_get(&format!("/admin/credentials/{id}")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
}
both_backends!(
    a_credential_with_unreadable_scopes_never_validates,
    unreadable_scopes
);

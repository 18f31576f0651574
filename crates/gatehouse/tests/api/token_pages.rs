//! The credential management pages, `/ui/settings/tokens` and `/ui/organizations/{org}/keys`,
//! over real HTTP as a browser sees them: the login redirect, CSRF, the secret shown once,
//! regenerate and revoke, other owners' ids, escaping, the service's refusals as messages, the
//! recent-login rule, and the organisation admins-only rule.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Backend, Browser, TestApp, urlencode};
use crate::pages::{Resp, assert_page_headers, get, header, hidden, post, signed_in, signed_in_at};

fn tokens_url(app: &TestApp) -> String {
    format!("{}/ui/settings/tokens", app.public)
}

/// The secret in the page's one-time field, if the page shows one.
fn shown_secret(body: &str) -> Option<String> {
    let marker = r#"id="issued-secret" type="text" value=""#;
    let at = body.find(marker)? + marker.len();
    let rest = &body[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

async fn validate(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(format!("{}/credentials/validate", app.public))
        .json(&json!({ "token": token }))
        .send()
        .await
        .expect("validate");
    let status = resp.status();
    (status, resp.json().await.expect("json"))
}

/// Opens the page and returns it with its CSRF token.
async fn open(app: &TestApp, b: &mut Browser, url: &str) -> (Resp, String) {
    let r = get(app, b, url).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let csrf = hidden(&r.body, "csrf_token");
    (r, csrf)
}

async fn create(
    app: &TestApp,
    b: &mut Browser,
    url: &str,
    csrf: &str,
    name: &str,
    scopes: &[&str],
    expires: &str,
) -> Resp {
    let mut form = vec![
        ("csrf_token", csrf),
        ("action", "create"),
        ("name", name),
        ("expires", expires),
    ];
    form.extend(scopes.iter().map(|s| ("scope", *s)));
    post(app, b, url, &form).await
}

/// The ids of `owner`'s credentials of `kind`, newest first.
async fn ids(app: &TestApp, kind: gatehouse::credentials::Kind, owner: &str) -> Vec<String> {
    app.app
        .state
        .credentials
        .list(Some(kind), Some(owner), 100, 0, gatehouse::clock::now())
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect()
}

async fn page_needs_a_session(app: TestApp) {
    let url = tokens_url(&app);
    let mut anon = Browser::default();
    let login = format!(
        "{}/self-service/login/browser?return_to={}",
        app.public,
        urlencode(&url)
    );
    let r = get(&app, &mut anon, &url).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(header(&r, "location"), login);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let r = post(&app, &mut anon, &url, &[("action", "create")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(header(&r, "location"), login);
    let org = format!(
        "{}/ui/organizations/00000000-0000-4000-8000-000000000000/keys",
        app.public
    );
    let r = get(&app, &mut anon, &org).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        header(&r, "location"),
        format!(
            "{}/self-service/login/browser?return_to={}",
            app.public,
            urlencode(&org)
        )
    );
    // The login flow takes that return_to (same origin).
    let r = get(&app, &mut anon, &login).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        header(&r, "location").starts_with(&format!("{}/ui/login?flow=", app.public)),
        "{}",
        header(&r, "location")
    );
}
both_backends!(the_tokens_page_needs_a_session, page_needs_a_session);

async fn second_factor_required(backend: Backend) {
    // The default `session.whoami.required_aal: highest_available`, and an identity with a
    // second factor (backup codes) whose session used only the password.
    let Some(app) = TestApp::spawn_on(backend, |_| {}).await else {
        return;
    };
    let (id, mut b) = signed_in(&app, "pages-aal1@example.com").await;
    let identities = &app.app.state.identities;
    let mut identity = identities.get(&id).await.expect("identity");
    let now = gatehouse::clock::now();
    identity.credentials.insert(
        "lookup_secret".into(),
        gatehouse::identity::model::Credential {
            identifiers: vec![],
            config: json!({"codes": [{"hmac": "00", "used_at": null}]}),
            version: 0,
            created_at: now,
            updated_at: now,
        },
    );
    identities.save(&mut identity, now).await.expect("save");
    let url = tokens_url(&app);
    let r = get(&app, &mut b, &url).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        header(&r, "location"),
        format!(
            "{}/self-service/login/browser?aal=aal2&return_to={}",
            app.public,
            urlencode(&url)
        )
    );
}
both_backends!(backend an_aal1_session_is_asked_for_the_second_factor, second_factor_required);

async fn secret_shown_once(app: TestApp) {
    let (uid, mut b) = signed_in(&app, "pages-pat@example.com").await;
    let url = tokens_url(&app);
    let r = get(&app, &mut b, &format!("{}/ui/welcome", app.public)).await;
    assert!(
        r.body
            .contains(r#"&#x2f;ui/settings/tokens">Personal access tokens</a>"#),
        "the welcome page links here: {}",
        r.body
    );
    let (r, csrf) = open(&app, &mut b, &url).await;
    assert_page_headers(&r);
    assert!(
        r.body.contains("<h1>Personal access tokens</h1>"),
        "{}",
        r.body
    );
    // The default roles' scopes, not admin:*; 7/30/90/365 days and never (no maximum).
    assert!(
        r.body.contains(r#"name="scope" value="read:*">"#),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"name="scope" value="write:*">"#));
    assert!(!r.body.contains(r#"value="admin:*""#));
    for v in ["7d", "30d", "365d", "never"] {
        assert!(
            r.body.contains(&format!(r#"<option value="{v}">"#)),
            "{v}: {}",
            r.body
        );
    }
    assert!(r.body.contains(r#"<option value="90d" selected>"#));
    assert!(r.body.contains("You have no tokens yet."));
    assert!(shown_secret(&r.body).is_none());

    // CSRF: without the token, and with another one, nothing is created.
    let form = [
        ("action", "create"),
        ("name", "x"),
        ("scope", "read:*"),
        ("expires", "7d"),
    ];
    let r = post(&app, &mut b, &url, &form).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_page_headers(&r);
    let r = create(
        &app,
        &mut b,
        &url,
        "0123456789abcdef0123456789abcdef",
        "x",
        &["read:*"],
        "7d",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        ids(&app, gatehouse::credentials::Kind::Pat, &uid)
            .await
            .is_empty()
    );

    // Create: the page (not a redirect) shows the secret once, with the warning.
    let r = create(&app, &mut b, &url, &csrf, "CI deploys", &["read:*"], "30d").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_page_headers(&r);
    let secret = shown_secret(&r.body).expect("the secret is shown");
    assert!(secret.starts_with("pat_") && secret.len() == 53, "{secret}");
    assert!(r.body.contains(r#"readonly"#));
    assert!(r.body.contains("It will not be shown again"));
    assert!(r.body.contains("(30 days)"), "{}", r.body);
    let (status, v) = validate(&app, &secret).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["user_id"], uid.as_str());
    assert_eq!(v["scopes"], json!(["read:*"]));
    assert_eq!(v["name"], "CI deploys");

    // Afterwards the list has its name, hint and scopes, never the secret.
    app.app.state.credentials.usage.flush().await;
    let (r, _) = open(&app, &mut b, &url).await;
    assert!(shown_secret(&r.body).is_none());
    assert!(!r.body.contains(&secret[4..]), "the secret is never listed");
    assert!(r.body.contains("CI deploys"));
    assert!(r.body.contains(&format!("{}…", &secret[..8])), "the hint");
    assert!(r.body.contains("<code>read:*</code>"));
    assert!(
        r.body.contains(">just now</time>"),
        "last used, from the validation: {}",
        r.body
    );
    assert!(!r.body.contains("You have no tokens yet."));

    // Regenerate: a new secret shown once, the old one dead at once.
    let id = ids(&app, gatehouse::credentials::Kind::Pat, &uid)
        .await
        .remove(0);
    let r = post(
        &app,
        &mut b,
        &url,
        &[("csrf_token", &csrf), ("action", "regenerate"), ("id", &id)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let again = shown_secret(&r.body).expect("a new secret");
    assert_ne!(again, secret);
    assert_eq!(validate(&app, &secret).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(validate(&app, &again).await.0, StatusCode::OK);

    // Revoke with a reason: in the revoked list with it, and refused at once.
    let r = post(
        &app,
        &mut b,
        &url,
        &[
            ("csrf_token", &csrf),
            ("action", "revoke"),
            ("id", &id),
            ("reason", "Laptop lost"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("The token “CI deploys” is revoked."),
        "{}",
        r.body
    );
    assert!(shown_secret(&r.body).is_none());
    let revoked = &r.body[r
        .body
        .find("Revoked tokens (last 30 days)")
        .expect("revoked list")..];
    assert!(revoked.contains("<strong>CI deploys</strong>"), "{revoked}");
    assert!(
        revoked.contains(r#"<span class="reason">Laptop lost</span>"#),
        "{revoked}"
    );
    assert!(
        r.body.contains("You have no tokens yet."),
        "no longer active"
    );
    let (status, v) = validate(&app, &again).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "invalid_token");
    // A revoked token cannot be regenerated: a message, not a crash.
    let r = post(
        &app,
        &mut b,
        &url,
        &[("csrf_token", &csrf), ("action", "regenerate"), ("id", &id)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("The credential is revoked."), "{}", r.body);
    assert!(shown_secret(&r.body).is_none());
}
both_backends!(
    create_shows_the_secret_once_then_regenerate_and_revoke,
    secret_shown_once
);

async fn other_owners_ids(app: TestApp) {
    let (_, mut alice) = signed_in(&app, "pages-alice@example.com").await;
    let (bob_id, mut bob) = signed_in(&app, "pages-bob@example.com").await;
    let url = tokens_url(&app);
    let (_, bob_csrf) = open(&app, &mut bob, &url).await;
    let r = create(&app, &mut bob, &url, &bob_csrf, "bob's", &["read:*"], "7d").await;
    let secret = shown_secret(&r.body).expect("secret");
    let bob_token = ids(&app, gatehouse::credentials::Kind::Pat, &bob_id)
        .await
        .remove(0);

    let (_, csrf) = open(&app, &mut alice, &url).await;
    for action in ["regenerate", "revoke"] {
        for id in [
            bob_token.as_str(),
            "00000000-0000-4000-8000-000000000000",
            "nope",
        ] {
            let r = post(
                &app,
                &mut alice,
                &url,
                &[("csrf_token", &csrf), ("action", action), ("id", id)],
            )
            .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{action} {id}: {}", r.body);
            assert_page_headers(&r);
        }
    }
    assert_eq!(validate(&app, &secret).await.0, StatusCode::OK, "untouched");
    // Alice's page never lists Bob's token.
    let (r, _) = open(&app, &mut alice, &url).await;
    assert!(!r.body.contains("bob&#x27;s") && !r.body.contains(&bob_token));

    // An API key id through the tokens page is not found either.
    let (status, org) = app
        .admin(
            Method::POST,
            "/admin/organizations",
            Some(json!({"name": "Org X"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let (status, key) = app
        .admin(
            Method::POST,
            "/admin/credentials",
            Some(json!({"kind": "api_key", "owner": org["id"], "name": "k", "scopes": ["read:*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let r = post(
        &app,
        &mut alice,
        &url,
        &[
            ("csrf_token", &csrf),
            ("action", "revoke"),
            ("id", key["id"].as_str().expect("id")),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
both_backends!(another_owners_token_id_is_not_found, other_owners_ids);

async fn escaping_and_refusals(app: TestApp) {
    let (uid, mut b) = signed_in(&app, "pages-escape@example.com").await;
    let url = tokens_url(&app);
    let (_, csrf) = open(&app, &mut b, &url).await;
    let hostile = r#"<script>alert(1)</script>" onmouseover="x"#;
    let r = create(&app, &mut b, &url, &csrf, hostile, &["write:*"], "never").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (r, _) = open(&app, &mut b, &url).await;
    assert!(!r.body.contains("<script"), "{}", r.body);
    assert!(!r.body.contains(r#"" onmouseover"#));
    assert!(
        r.body
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;&quot; onmouseover=&quot;x"),
        "{}",
        r.body
    );
    assert!(r.body.contains(">Never</dd>"), "{}", r.body);

    // The service's refusals are messages on the page, with the form filled in again.
    let refusals: [(&str, &[&str], &str, StatusCode, &str); 5] = [
        (
            "   ",
            &["read:*"],
            "7d",
            StatusCode::BAD_REQUEST,
            "Name must not be empty.",
        ),
        (
            &"n".repeat(101),
            &["read:*"],
            "7d",
            StatusCode::BAD_REQUEST,
            "Name is longer than 100 characters.",
        ),
        (
            "beyond",
            &["admin:*"],
            "7d",
            StatusCode::BAD_REQUEST,
            "The scope admin:* cannot be chosen here.",
        ),
        (
            "none",
            &[],
            "7d",
            StatusCode::BAD_REQUEST,
            "Choose at least one scope.",
        ),
        (
            "odd",
            &["read:*"],
            "3d",
            StatusCode::BAD_REQUEST,
            "Choose when it expires.",
        ),
    ];
    for (name, scopes, expires, status, message) in refusals {
        let r = create(&app, &mut b, &url, &csrf, name, scopes, expires).await;
        assert_eq!(r.status, status, "{name}: {}", r.body);
        assert_page_headers(&r);
        assert!(r.body.contains(r#"role="alert""#), "{}", r.body);
        assert!(
            r.body
                .contains(&format!(r#"<p class="message error">{message}</p>"#)),
            "{message}: {}",
            r.body
        );
        assert!(shown_secret(&r.body).is_none());
    }
    // Filled in again: the name, the checked scope, the chosen expiry.
    let r = create(&app, &mut b, &url, &csrf, "keep me", &["write:*"], "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains(r#"value="keep me""#), "{}", r.body);
    assert!(
        r.body.contains(r#"name="scope" value="write:*" checked>"#),
        "{}",
        r.body
    );
    let r = create(&app, &mut b, &url, &csrf, "", &["write:*"], "365d").await;
    assert!(
        r.body.contains(r#"<option value="365d" selected>"#),
        "{}",
        r.body
    );

    // Unreadable forms: an error page.
    let r = post(
        &app,
        &mut b,
        &url,
        &[("csrf_token", &csrf), ("action", "delete")],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let long = "x".repeat(2000);
    let r = post(
        &app,
        &mut b,
        &url,
        &[("csrf_token", &csrf), ("action", "create"), ("name", &long)],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = post(
        &app,
        &mut b,
        &url,
        &[
            ("csrf_token", &csrf),
            ("action", "revoke"),
            ("id", "x"),
            ("reason", &"r".repeat(201)),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A reason over 200 characters is the service's refusal.
    let id = ids(&app, gatehouse::credentials::Kind::Pat, &uid)
        .await
        .remove(0);
    let r = post(
        &app,
        &mut b,
        &url,
        &[
            ("csrf_token", &csrf),
            ("action", "revoke"),
            ("id", &id),
            ("reason", &"r".repeat(201)),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body.contains("Reason is longer than 200 characters."),
        "{}",
        r.body
    );
    assert_eq!(
        ids(&app, gatehouse::credentials::Kind::Pat, &uid)
            .await
            .len(),
        1
    );
}
both_backends!(
    names_are_escaped_and_refusals_are_messages,
    escaping_and_refusals
);

async fn lifetimes_and_a_stale_login(backend: Backend) {
    let Some(app) = TestApp::spawn_on(backend, |c| {
        let days = |n: u64| gatehouse::config::Dur(std::time::Duration::from_secs(n * 86400));
        c.credentials.max_lifetime = Some(days(30));
        c.credentials.default_lifetime = Some(days(30));
    })
    .await
    else {
        return;
    };
    let (_, mut b) = signed_in(&app, "pages-max@example.com").await;
    let url = tokens_url(&app);
    let (r, csrf) = open(&app, &mut b, &url).await;
    assert!(
        !r.body.contains(r#"value="never""#),
        "no never under a maximum"
    );
    assert!(!r.body.contains(r#"value="90d""#));
    assert!(
        r.body.contains(r#"<option value="30d" selected>"#),
        "{}",
        r.body
    );
    assert!(!r.body.contains("sign in again"), "{}", r.body);
    let r = create(&app, &mut b, &url, &csrf, "forever", &["read:*"], "never").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = create(&app, &mut b, &url, &csrf, "fresh", &["read:*"], "30d").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(shown_secret(&r.body).is_some());

    // A login older than privileged_session_max_age (15 minutes): the page says so, and
    // minting sends the browser to sign in again, back to the page.
    let an_hour_ago = gatehouse::clock::now() - 3600;
    let (uid, mut b) = signed_in_at(&app, "pages-stale@example.com", an_hour_ago).await;
    let (r, csrf) = open(&app, &mut b, &url).await;
    assert!(
        r.body
            .contains("You will be asked to sign in again before a new token is issued."),
        "{}",
        r.body
    );
    let refresh = format!(
        "{}/self-service/login/browser?refresh=true&return_to={}",
        app.public,
        urlencode(&url)
    );
    let r = create(&app, &mut b, &url, &csrf, "stale", &["read:*"], "30d").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(header(&r, "location"), refresh);
    assert!(
        ids(&app, gatehouse::credentials::Kind::Pat, &uid)
            .await
            .is_empty()
    );
    let (status, issued) = app
        .admin(
            Method::POST,
            "/admin/credentials",
            Some(json!({"kind": "pat", "owner": uid, "name": "by admin", "scopes": ["read:*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let id = issued["id"].as_str().expect("id");
    let r = post(
        &app,
        &mut b,
        &url,
        &[("csrf_token", &csrf), ("action", "regenerate"), ("id", id)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(header(&r, "location"), refresh);
    let token = issued["token"].as_str().expect("token");
    assert_eq!(
        validate(&app, token).await.0,
        StatusCode::OK,
        "not regenerated"
    );
    // Revoking needs no fresh login; without a reason it gets the default one.
    let r = post(
        &app,
        &mut b,
        &url,
        &[("csrf_token", &csrf), ("action", "revoke"), ("id", id)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Manual revocation"), "{}", r.body);
    assert_eq!(validate(&app, token).await.0, StatusCode::UNAUTHORIZED);
}
both_backends!(backend lifetimes_are_bounded_and_minting_needs_a_recent_login, lifetimes_and_a_stale_login);

async fn organization_keys(app: TestApp) {
    let (alice, mut alice_b) = signed_in(&app, "pages-org-admin@example.com").await;
    let (bob, mut bob_b) = signed_in(&app, "pages-org-member@example.com").await;
    let (_, mut carol_b) = signed_in(&app, "pages-stranger@example.com").await;
    let (status, org) = app
        .admin(
            Method::POST,
            "/admin/organizations",
            Some(json!({"name": "Acme <Labs>"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let org_id = org["id"].as_str().expect("id").to_owned();
    for (who, role) in [(&alice, "admin"), (&bob, "member")] {
        let (status, v) = app
            .admin_put(
                &format!("/admin/organizations/{org_id}/members/{who}"),
                json!({"role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let keys = format!("{}/ui/organizations/{org_id}/keys", app.public);

    // The tokens page lists the organisations: a link for the admin, none for the member.
    let link = format!(r#"href="{}"#, keys.replace('/', "&#x2f;"));
    let (r, _) = open(&app, &mut alice_b, &tokens_url(&app)).await;
    assert!(r.body.contains(&link), "{}", r.body);
    assert!(r.body.contains("Acme &lt;Labs&gt;: API keys"), "{}", r.body);
    let (r, _) = open(&app, &mut bob_b, &tokens_url(&app)).await;
    assert!(!r.body.contains(&link));
    assert!(
        r.body.contains("its admins manage its API keys"),
        "{}",
        r.body
    );
    let (r, _) = open(&app, &mut carol_b, &tokens_url(&app)).await;
    assert!(!r.body.contains("Your organizations"));

    // Admins only: 403 for a member, 404 for anyone else and for an unknown organisation.
    let r = get(&app, &mut bob_b, &keys).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_page_headers(&r);
    let r = get(&app, &mut carol_b, &keys).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let unknown = format!(
        "{}/ui/organizations/00000000-0000-4000-8000-000000000000/keys",
        app.public
    );
    assert_eq!(
        get(&app, &mut alice_b, &unknown).await.status,
        StatusCode::NOT_FOUND
    );

    // The admin: every catalogue scope, and a key shown once.
    let (r, csrf) = open(&app, &mut alice_b, &keys).await;
    assert_page_headers(&r);
    assert!(
        r.body.contains("<h1>API keys of Acme &lt;Labs&gt;</h1>"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(r#"name="scope" value="admin:*">"#),
        "{}",
        r.body
    );
    let r = create(
        &app,
        &mut alice_b,
        &keys,
        &csrf,
        "Partner sync",
        &["read:*", "admin:*"],
        "90d",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let secret = shown_secret(&r.body).expect("secret");
    assert!(secret.starts_with("key_"), "{secret}");
    let (status, v) = validate(&app, &secret).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["org_id"], org_id.as_str());
    let (r, _) = open(&app, &mut alice_b, &keys).await;
    assert!(shown_secret(&r.body).is_none());
    assert!(r.body.contains("Partner sync"));

    // A member's and a stranger's POSTs are refused whatever they carry.
    let key_id = ids(&app, gatehouse::credentials::Kind::ApiKey, &org_id)
        .await
        .remove(0);
    for (b, status) in [
        (&mut bob_b, StatusCode::FORBIDDEN),
        (&mut carol_b, StatusCode::NOT_FOUND),
    ] {
        let (_, theirs) = open(&app, b, &tokens_url(&app)).await;
        let r = post(
            &app,
            b,
            &keys,
            &[
                ("csrf_token", &theirs),
                ("action", "revoke"),
                ("id", &key_id),
            ],
        )
        .await;
        assert_eq!(r.status, status);
    }
    assert_eq!(validate(&app, &secret).await.0, StatusCode::OK);

    // A PAT id through the organisation's page: not found.
    let (_, tcsrf) = open(&app, &mut alice_b, &tokens_url(&app)).await;
    let r = create(
        &app,
        &mut alice_b,
        &tokens_url(&app),
        &tcsrf,
        "mine",
        &["read:*"],
        "7d",
    )
    .await;
    assert!(shown_secret(&r.body).is_some());
    let pat = ids(&app, gatehouse::credentials::Kind::Pat, &alice)
        .await
        .remove(0);
    let r = post(
        &app,
        &mut alice_b,
        &keys,
        &[("csrf_token", &csrf), ("action", "revoke"), ("id", &pat)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Revoke the key with a reason.
    let r = post(
        &app,
        &mut alice_b,
        &keys,
        &[
            ("csrf_token", &csrf),
            ("action", "revoke"),
            ("id", &key_id),
            ("reason", "Rotated"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("The API key “Partner sync” is revoked."),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"<span class="reason">Rotated</span>"#));
    assert_eq!(validate(&app, &secret).await.0, StatusCode::UNAUTHORIZED);
}
both_backends!(organization_keys_are_for_admins, organization_keys);

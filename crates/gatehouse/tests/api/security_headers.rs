//! Headers on the answers outside `/ui/` that carry HTML or secrets: the OAuth fallback and
//! error pages cannot be framed or cached, and flow or admin JSON carrying secrets is never
//! stored by a cache.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Browser, TestApp, urlencode};
use crate::selfservice::{PASSWORD, api_login};

fn h<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The headers of every `/ui/*` page: not cached, not framed, no referrer, no sniffing.
pub(crate) fn assert_unframeable(headers: &HeaderMap) {
    assert!(
        h(headers, "cache-control").contains("no-store"),
        "{headers:?}"
    );
    assert_eq!(h(headers, "x-frame-options"), "DENY", "{headers:?}");
    assert_eq!(h(headers, "referrer-policy"), "no-referrer", "{headers:?}");
    assert_eq!(
        h(headers, "x-content-type-options"),
        "nosniff",
        "{headers:?}"
    );
    assert!(
        h(headers, "content-security-policy").contains("frame-ancestors 'none'"),
        "{headers:?}"
    );
}

async fn fallback_and_oauth_error_pages_cannot_be_framed(app: TestApp) {
    let mut b = Browser::default();
    let mut urls: Vec<String> = [
        "login",
        "consent",
        "logout",
        "logout/callback",
        "error?error=x&error_description=y",
    ]
    .iter()
    .map(|p| format!("{}/oauth2/fallbacks/{p}", app.public))
    .collect();
    // HTML errors of the authorization and logout endpoints.
    urls.push(format!(
        "{}/oauth2/auth?client_id=nobody&response_type=code&redirect_uri={}",
        app.public,
        urlencode("https://evil.example/cb")
    ));
    urls.push(format!(
        "{}/oauth2/sessions/logout?post_logout_redirect_uri={}",
        app.public,
        urlencode("https://evil.example/bye")
    ));
    for url in urls {
        let r = crate::pages::get(&app, &mut b, &url).await;
        assert!(
            h(&r.headers, "content-type").starts_with("text/html"),
            "{url}: {:?}",
            r.headers
        );
        assert_unframeable(&r.headers);
    }
}
both_backends!(
    fallback_pages_unframeable,
    fallback_and_oauth_error_pages_cannot_be_framed
);

async fn settings_flow_json_with_totp_secret_is_not_cached(app: TestApp) {
    app.create_identity("cache@example.com", PASSWORD).await;
    let (status, body) = api_login(&app, "cache@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["session_token"].as_str().expect("token").to_owned();
    let resp = app
        .http
        .get(format!("{}/self-service/settings/api", app.public))
        .header("X-Session-Token", &token)
        .send()
        .await
        .expect("request");
    assert!(h(resp.headers(), "cache-control").contains("no-store"));
    let flow: Value = resp.json().await.expect("json");
    let id = flow["id"].as_str().expect("id");
    let resp = app
        .http
        .get(format!(
            "{}/self-service/settings/flows?id={id}",
            app.public
        ))
        .header("X-Session-Token", &token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    assert!(body.contains("totp_secret_key"), "{body}");
    assert!(
        h(&headers, "cache-control").contains("no-store"),
        "{headers:?}"
    );
}
both_backends!(
    settings_flow_not_cached,
    settings_flow_json_with_totp_secret_is_not_cached
);

async fn admin_client_creation_with_secret_is_not_cached(app: TestApp) {
    let resp = app
        .http
        .post(format!("{}/admin/clients", app.admin))
        .json(&json!({"redirect_uris": ["https://app.example.com/callback"]}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.expect("json");
    assert!(body["client_secret"].is_string());
    assert!(
        h(&headers, "cache-control").contains("no-store"),
        "{headers:?}"
    );
}
both_backends!(
    admin_client_not_cached,
    admin_client_creation_with_secret_is_not_cached
);

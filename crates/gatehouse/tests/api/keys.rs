//! Key rotation with overlap.

use gatehouse_crypto::jwt::UnverifiedJwt;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestApp;

async fn kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.public))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect()
}

async fn rotation_publishes_before_signing(app: TestApp) {
    let c = app.create_client(json!({"grant_types": ["client_credentials"], "access_token_strategy": "jwt", "scope": ""})).await;
    let before = kids(&app).await;
    let now = gatehouse::clock::now();
    let new = app
        .app
        .provider
        .keys
        .rotate(now, false)
        .await
        .expect("rotate");
    let after = kids(&app).await;
    assert_eq!(after.len(), 2, "the new key is published at once");
    assert!(after.contains(&new.kid) && after.contains(&before[0]));
    let (_, body, _) = app.token(&c, &[("grant_type", "client_credentials")]).await;
    let jwt = UnverifiedJwt::parse(body["access_token"].as_str().expect("at")).expect("jwt");
    assert_eq!(
        jwt.header.kid.as_deref(),
        Some(before[0].as_str()),
        "but does not sign yet"
    );
    // Once it activates, it signs; the old key stays published until its tokens expire.
    app.app
        .provider
        .keys
        .refresh(new.activate_at)
        .await
        .expect("refresh");
    let (_, body, _) = app.token(&c, &[("grant_type", "client_credentials")]).await;
    let jwt = UnverifiedJwt::parse(body["access_token"].as_str().expect("at")).expect("jwt");
    assert_eq!(jwt.header.kid.as_deref(), Some(new.kid.as_str()));
    assert_eq!(kids(&app).await.len(), 2);
    let rows = app.app.store.list_all_keys().await.expect("keys");
    let old = rows.iter().find(|r| r.kid == before[0]).expect("old key");
    assert_eq!(old.retire_at, Some(new.activate_at));
    assert_eq!(old.expire_at, Some(new.activate_at + 3600));
    // After that, the old key leaves the JWKS.
    app.app
        .provider
        .keys
        .refresh(new.activate_at + 3601)
        .await
        .expect("refresh");
    assert_eq!(kids(&app).await, vec![new.kid.clone()]);
}
both_backends!(rotation, rotation_publishes_before_signing);

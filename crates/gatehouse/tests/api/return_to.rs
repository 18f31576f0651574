//! `return_to` on the self-service flows and their logout URL: one check for every caller
//! (scheme, host and port exact, path on segment boundaries), and the redirect goes to the
//! normalised URL, never the raw string.

use reqwest::StatusCode;

use crate::both_backends;
use crate::harness::{Backend, Browser, TestApp, urlencode};

const LOOKALIKES: [&str; 4] = [
    "https://app.example.com.evil.example/",
    "https://app.example.com@evil.example/",
    "https://app.example.com:1@evil.example/",
    "https://app.example.comevil.example/",
];

async fn app_allowing(backend: Backend, entry: &str) -> Option<TestApp> {
    let entry = entry.to_owned();
    TestApp::spawn_on(backend, move |c| {
        c.selfservice.allowed_return_urls = vec![entry];
    })
    .await
}

async fn return_to_prefix_lookalike_host_is_refused(backend: Backend) {
    let Some(app) = app_allowing(backend, "https://app.example.com").await else {
        return;
    };
    for evil in LOOKALIKES {
        for kind in [
            "login",
            "registration",
            "recovery",
            "verification",
            "settings",
        ] {
            let hop = Browser::default()
                .get(
                    &app,
                    &format!(
                        "{}/self-service/{kind}/browser?return_to={}",
                        app.public,
                        urlencode(evil)
                    ),
                )
                .await;
            assert!(
                !hop.status.is_redirection()
                    || !hop
                        .location
                        .as_deref()
                        .unwrap_or_default()
                        .contains("flow="),
                "{kind} accepted {evil}: {:?}",
                hop.location
            );
        }
        // Logout without a session redirects straight away: never to the look-alike host.
        let hop = Browser::default()
            .get(
                &app,
                &format!(
                    "{}/self-service/logout?token=x&return_to={}",
                    app.public,
                    urlencode(evil)
                ),
            )
            .await;
        assert_eq!(
            hop.status,
            StatusCode::BAD_REQUEST,
            "{evil}: {:?}",
            hop.location
        );
        assert!(hop.location.is_none(), "{evil}: {:?}", hop.location);
    }
    // The allowed host itself still works.
    let hop = Browser::default()
        .get(
            &app,
            &format!(
                "{}/self-service/logout?token=x&return_to={}",
                app.public,
                urlencode("https://app.example.com/bye")
            ),
        )
        .await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER);
    assert_eq!(hop.location.as_deref(), Some("https://app.example.com/bye"));
}
both_backends!(backend lookalike_hosts, return_to_prefix_lookalike_host_is_refused);

async fn return_to_raw_backslash_string_is_not_echoed(backend: Backend) {
    let Some(app) = app_allowing(backend, "https://app.example.com").await else {
        return;
    };
    let authority = app.public.trim_start_matches("http://").to_owned();
    // WHATWG reads the host as the issuer; curl and Python read `127.0.0.1:8477`.
    let raw = format!("{}\\@127.0.0.1:8477/via-curl", app.public);
    let hop = Browser::default()
        .get(
            &app,
            &format!(
                "{}/self-service/logout?token=x&return_to={}",
                app.public,
                urlencode(&raw)
            ),
        )
        .await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER);
    assert_eq!(
        hop.location,
        Some(format!("http://{authority}/@127.0.0.1:8477/via-curl"))
    );
    // A flow keeps the normalised URL too.
    let mut b = Browser::default();
    let hop = b
        .get(
            &app,
            &format!(
                "{}/self-service/login/browser?return_to={}",
                app.public,
                urlencode(&raw)
            ),
        )
        .await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER);
    let flow_id = crate::harness::query_param(hop.location.as_deref().unwrap_or_default(), "flow")
        .expect("flow id");
    let flow: serde_json::Value = app
        .http
        .get(format!(
            "{}/self-service/login/flows?id={flow_id}",
            app.public
        ))
        .header("cookie", b.cookie_header())
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        flow["return_to"],
        format!("http://{authority}/@127.0.0.1:8477/via-curl")
    );
}
both_backends!(backend raw_string, return_to_raw_backslash_string_is_not_echoed);

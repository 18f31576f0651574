//! WebAuthn on the built-in pages: the login and settings pages load Gatehouse's helper script
//! (its integrity, a per-response CSP nonce, nothing else), and render the trigger buttons with
//! `data-webauthn-trigger` and no inline handler; password sign-in stays a plain form. The
//! ceremonies themselves run in Chromium (tests/browser/passkeys.test.mjs).

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::harness::{Backend, TestApp};
use gatehouse::selfservice::webauthn::{SCRIPT_PATH, script_integrity};

/// An app whose relying party is `localhost` (the harness's issuer is an IP address, which
/// cannot be a relying-party id).
async fn app_with_webauthn() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |c| {
        let issuer = c.urls.self_.issuer.clone().expect("issuer");
        let w = &mut c.selfservice.methods.webauthn;
        w.enabled = true;
        w.passwordless = true;
        w.rp_id = Some("localhost".into());
        w.rp_origins = vec![issuer.replace("127.0.0.1", "localhost")];
    })
    .await
}

struct Page {
    headers: HeaderMap,
    body: String,
}

/// Follows `/ui/<kind>` → `/self-service/<kind>/browser` → `/ui/<kind>?flow=…` with `cookies`
/// (the CSRF cookie the flow sets is kept) and returns the page.
async fn flow_page(app: &TestApp, kind: &str, mut cookies: Vec<String>) -> Page {
    let mut url = format!("{}/ui/{kind}", app.public);
    for _ in 0..4 {
        let resp = app
            .http
            .get(&url)
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .expect("request");
        for v in resp.headers().get_all("set-cookie") {
            let first = v.to_str().unwrap_or_default().split(';').next();
            cookies.extend(first.map(str::to_owned));
        }
        if resp.status() == StatusCode::SEE_OTHER {
            url = resp.headers()["location"]
                .to_str()
                .expect("location")
                .to_owned();
            continue;
        }
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        return Page {
            headers: resp.headers().clone(),
            body: resp.text().await.expect("body"),
        };
    }
    panic!("{url}: too many redirects");
}

async fn session_cookie(app: &TestApp) -> String {
    let created = app
        .create_identity("ada@example.com", "correct horse battery")
        .await;
    let id = created["id"].as_str().expect("id");
    let identity = app.app.state.identities.get(id).await.expect("identity");
    let (token, _) = app
        .app
        .state
        .sessions
        .issue(
            &identity,
            gatehouse::sessions::AuthMethod {
                method: "password".into(),
                aal: gatehouse::sessions::Aal::Aal1,
                completed_at: 0,
            },
            None,
            gatehouse::sessions::Device::default(),
            gatehouse::clock::now(),
        )
        .await
        .expect("session");
    format!("gatehouse_session={}", token.expose())
}

/// The page's only `<script>` tag.
fn script_tag(body: &str) -> &str {
    assert_eq!(body.matches("<script").count(), 1, "{body}");
    let at = body.find("<script").expect("script");
    &body[at..at + body[at..].find("</script>").expect("end of script")]
}

fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let at = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + key.len();
    &tag[at..at + tag[at..].find('"').expect("end of attribute")]
}

/// minijinja's escaping of a URL or base64 value in an attribute.
fn unescape(v: &str) -> String {
    v.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn csp(p: &Page) -> String {
    p.headers["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned()
}

/// The `script-src` directive's sources.
fn script_src(csp: &str) -> Vec<String> {
    let d = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src "))
        .unwrap_or_else(|| panic!("no script-src in {csp}"));
    d.split_whitespace().skip(1).map(str::to_owned).collect()
}

/// Checks the page's script tag and CSP; returns the nonce.
async fn assert_loads_only_the_webauthn_script(app: &TestApp, p: &Page) -> String {
    let tag = script_tag(&p.body);
    let src = unescape(attr(tag, "src"));
    assert!(
        src.starts_with(&format!("{}{SCRIPT_PATH}?v=", app.public)),
        "{tag}"
    );
    assert_eq!(
        unescape(attr(tag, "integrity")),
        script_integrity(),
        "{tag}"
    );
    assert_eq!(attr(tag, "crossorigin"), "anonymous");
    assert_eq!(attr(tag, "referrerpolicy"), "no-referrer");
    assert!(tag.ends_with(" defer>"), "{tag}");
    let nonce = attr(tag, "nonce").to_owned();
    assert!(nonce.len() >= 22, "{nonce}");
    let csp = csp(p);
    assert_eq!(script_src(&csp), [format!("'nonce-{nonce}'")], "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    // The integrity is that of the script actually served at the URL.
    let served = app
        .http
        .get(&src)
        .send()
        .await
        .expect("script")
        .bytes()
        .await
        .expect("body");
    let digest =
        base64::engine::general_purpose::STANDARD.encode(gatehouse_crypto::sha256(&served));
    assert_eq!(format!("sha256-{digest}"), script_integrity());
    // No inline code anywhere.
    assert!(!p.body.contains("onclick"), "{}", p.body);
    assert!(!p.body.contains("javascript:"), "{}", p.body);
    nonce
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_loads_the_webauthn_script_and_a_passkey_button() {
    let app = app_with_webauthn().await;
    let p = flow_page(&app, "login", vec![]).await;
    let nonce = assert_loads_only_the_webauthn_script(&app, &p).await;
    assert!(
        p.body
            .contains(r#"<input type="hidden" name="webauthn_login" value="">"#),
        "{}",
        p.body
    );
    assert!(
        p.body.contains(
            r#"data-webauthn-trigger="oryWebAuthnLogin">Sign in with a passkey</button>"#
        ),
        "{}",
        p.body
    );
    assert!(
        p.body
            .contains(r#"<button type="button" class="button secondary" name="webauthn_login_trigger" value="{&quot;mediation&quot;:&quot;conditional&quot;,&quot;publicKey&quot;:{"#),
        "{}",
        p.body
    );
    // Password sign-in is still a plain form that needs no script.
    assert!(
        p.body
            .contains(r#"<button type="submit" class="button" name="method" value="password">"#),
        "{}",
        p.body
    );
    // Every response has its own nonce.
    let again = flow_page(&app, "login", vec![]).await;
    let tag = script_tag(&again.body);
    assert_ne!(attr(tag, "nonce"), nonce);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_page_offers_adding_a_passkey() {
    let app = app_with_webauthn().await;
    let cookie = session_cookie(&app).await;
    let p = flow_page(&app, "settings", vec![cookie]).await;
    assert_loads_only_the_webauthn_script(&app, &p).await;
    for needle in [
        r#"<input type="hidden" name="webauthn_register" value="">"#,
        r#"name="webauthn_register_displayname" type="text" value="""#,
        r#"data-webauthn-trigger="oryWebAuthnRegistration">Add security key</button>"#,
    ] {
        assert!(p.body.contains(needle), "{needle} in {}", p.body);
    }
    // The trigger is inside the form with the CSRF token and the hidden input.
    let form = p
        .body
        .split("<form ")
        .find(|f| f.contains("webauthn_register_trigger"))
        .expect("webauthn form");
    let form = &form[..form.find("</form>").expect("end of form")];
    assert!(form.contains(r#"name="csrf_token""#), "{form}");
    assert!(form.contains(r#"name="webauthn_register""#), "{form}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_without_webauthn_allow_no_script_at_all() {
    // The harness's issuer is 127.0.0.1, so WebAuthn is off by default.
    let app = TestApp::spawn(Backend::Sqlite).await;
    let p = flow_page(&app, "login", vec![]).await;
    assert!(!p.body.contains("<script"), "{}", p.body);
    assert!(!p.body.contains("data-webauthn-trigger"), "{}", p.body);
    assert_eq!(script_src(&csp(&p)), ["'none'"]);
}

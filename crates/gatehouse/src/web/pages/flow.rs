//! `GET /ui/{login,registration,settings,recovery,verification}`: one page renders any
//! self-service flow from its Kratos JSON. Without `?flow=` (or for an expired or unknown flow)
//! the browser is sent to `/self-service/<kind>/browser` to start one, keeping `return_to`,
//! `login_challenge`, `aal` and `refresh`.
//!
//! The flow's nodes become one `<form>` per node group (in order of first appearance). Every
//! form carries the hidden nodes of group `default` (the CSRF token); the visible `default`
//! nodes (the identifier, traits) go into the first form of a group that uses them.
//!
//! WebAuthn: a flow's `script` node for Gatehouse's own helper becomes one `<script src
//! integrity nonce defer>` (any other script node is dropped), and its trigger buttons become
//! `<button type="button" data-webauthn-trigger="oryWebAuthnLogin">`, which the helper binds;
//! Kratos's `onclick` attribute is never rendered, so the CSP can forbid inline code.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::headers::{FormAction, ScriptNonce, see_other};
use super::{browser_session, context, error_page, internal, page_with_script, param};
use crate::clock::now;
use crate::error::Error;
use crate::selfservice::{FlowKind, webauthn};
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{QueryPairs, cookie};

/// Query parameters passed through to a new flow.
const PASS_THROUGH: &[&str] = &["return_to", "login_challenge", "aal", "refresh"];

/// The `onclickTrigger`s of WebAuthn buttons that Gatehouse's helper defines and binds.
const WEBAUTHN_TRIGGERS: &[&str] = &["oryWebAuthnLogin", "oryWebAuthnRegistration"];

/// Groups whose forms need the visible `default` nodes (the identifier or traits).
const USES_IDENTIFIER: &[&str] = &["password", "code", "profile", "webauthn", "passkey"];

struct Kind {
    kind: FlowKind,
    path: &'static str,
    title: &'static str,
}

fn kind(path: &str) -> Option<Kind> {
    let (kind, path, title) = match path {
        "login" => (FlowKind::Login, "login", "Sign in"),
        "registration" => (FlowKind::Registration, "registration", "Create an account"),
        "settings" => (FlowKind::Settings, "settings", "Account settings"),
        "recovery" => (FlowKind::Recovery, "recovery", "Recover your account"),
        "verification" => (
            FlowKind::Verification,
            "verification",
            "Verify your e-mail address",
        ),
        _ => return None,
    };
    Some(Kind { kind, path, title })
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    let q = q.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

/// The redirect that starts a new flow of this kind.
fn start(s: &AppState, k: &Kind, q: &[(String, String)]) -> Response {
    let pass: Vec<(&str, &str)> = PASS_THROUGH
        .iter()
        .filter_map(|n| param(q, n).map(|v| (*n, v)))
        .collect();
    see_other(&format!(
        "{}/self-service/{}/browser{}",
        s.config.issuer(),
        k.path,
        query(&pass)
    ))
}

pub async fn show(
    State(s): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
    q: Result<QueryPairs, ApiError>,
) -> Response {
    let Some(k) = kind(&path) else {
        return error_page(
            &s,
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is no such page.",
        );
    };
    let q = q.map(|QueryPairs(q)| q).unwrap_or_default();
    let Some(id) = param(&q, "flow") else {
        return start(&s, &k, &q);
    };
    // The flow's CSRF token node is filled only for the browser holding its CSRF cookie.
    let csrf_name = crate::selfservice::csrf_cookie_name(&s.config);
    let csrf = cookie(&headers, &csrf_name).map(str::to_owned);
    // A session that cannot be looked up is an error, never an anonymous viewer.
    let viewer = match browser_session(&s, &headers).await {
        Ok(v) => v,
        Err(e) => return internal(&s, &e),
    };
    let flow = match s
        .flows
        .flow_json_for(
            k.kind,
            id,
            csrf.as_deref(),
            viewer.as_ref().map(|v| v.identity.id.as_str()),
            now(),
        )
        .await
    {
        Ok(f) => f,
        Err(Error::Gone(_) | Error::NotFound(_)) => return start(&s, &k, &q),
        Err(e) => return internal(&s, &e),
    };
    let ui = &flow["ui"];
    let messages = messages(&ui["messages"]);
    let alert = messages.iter().any(|m| m["type"] == "error");
    let nonce = has_webauthn_script(&s, ui).then(ScriptNonce::new);
    let ctx = context(
        &s,
        k.title,
        json!({
            "kind": k.path,
            "flow_id": flow["id"],
            "messages": messages,
            "alert": alert,
            "forms": forms(ui, &k),
            "links": links(&s, &k, &flow),
            "script": nonce.as_ref().map(|n| webauthn_script(&s, n)),
        }),
    );
    page_with_script(
        &s,
        StatusCode::OK,
        "flow.html",
        ctx,
        &form_action(&s, &flow),
        nonce.as_ref(),
    )
}

/// Whether the flow has a `script` node for Gatehouse's WebAuthn helper (the only script the
/// pages load; a script node with any other `src` is ignored).
fn has_webauthn_script(s: &AppState, ui: &Value) -> bool {
    let ours = format!("{}{}", s.config.issuer(), webauthn::SCRIPT_PATH);
    ui["nodes"].as_array().is_some_and(|nodes| {
        nodes
            .iter()
            .any(|n| n["type"] == "script" && n["attributes"]["src"] == ours.as_str())
    })
}

/// The `<script>` tag's attributes for the WebAuthn helper. The URL carries a version (from the
/// script's hash) so that a browser's cached copy of an older script, which would fail the
/// integrity check, is never used.
fn webauthn_script(s: &AppState, nonce: &ScriptNonce) -> Value {
    let integrity = webauthn::script_integrity();
    let version: String = integrity
        .trim_start_matches("sha256-")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    json!({
        "src": format!("{}{}?v={version}", s.config.issuer(), webauthn::SCRIPT_PATH),
        "integrity": integrity,
        "nonce": nonce.as_str(),
    })
}

/// Where this page's forms may lead: the flow's action, return URLs, the OAuth2 client's
/// redirect URIs when the flow serves a login challenge, and the consent app.
fn form_action(s: &AppState, flow: &Value) -> FormAction {
    let mut f = FormAction::new(&s.config);
    f.allow_return_urls(&s.config);
    for u in [&flow["ui"]["action"], &flow["return_to"]] {
        if let Some(u) = u.as_str() {
            f.allow(u);
        }
    }
    if let Some(uris) = flow["oauth2_login_request"]["client"]["redirect_uris"].as_array() {
        for u in uris.iter().filter_map(Value::as_str) {
            f.allow(u);
        }
    }
    if let Some(u) = &s.config.urls.consent {
        f.allow(u);
    }
    f
}

/// Links to the other flows, keeping `return_to` and the login challenge.
fn links(s: &AppState, k: &Kind, flow: &Value) -> Vec<Value> {
    let mut keep: Vec<(&str, &str)> = Vec::new();
    if let Some(r) = flow["return_to"].as_str().filter(|r| !r.is_empty()) {
        keep.push(("return_to", r));
    }
    if let Some(c) = flow["oauth2_login_challenge"]
        .as_str()
        .filter(|c| !c.is_empty())
    {
        keep.push(("login_challenge", c));
    }
    let ui = format!("{}/ui", s.config.issuer());
    let to = |path: &str, text: &str, keep: &[(&str, &str)]| json!({"href": format!("{ui}/{path}{}", query(keep)), "text": text});
    match k.kind {
        FlowKind::Login => vec![
            to("registration", "Create an account", &keep),
            to(
                "recovery",
                "Forgot your password?",
                &keep[..keep.len().min(1)],
            ),
        ],
        FlowKind::Registration => vec![to("login", "Already have an account? Sign in", &keep)],
        FlowKind::Recovery | FlowKind::Verification => vec![to("login", "Back to sign in", &[])],
        FlowKind::Settings => vec![
            to("settings/tokens", "Personal access tokens", &[]),
            to("welcome", "Back", &[]),
            to("logout", "Sign out", &[]),
        ],
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn messages(v: &Value) -> Vec<Value> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    let ty = m["type"]
                        .as_str()
                        .filter(|t| matches!(*t, "error" | "success"))
                        .unwrap_or("info");
                    json!({"id": m["id"], "text": text_of(&m["text"]), "type": ty})
                })
                .collect()
        })
        .unwrap_or_default()
}

fn is_hidden(node: &Value) -> bool {
    node["type"] == "input" && node["attributes"]["type"] == "hidden"
}

/// The nodes as forms, one per group.
fn forms(ui: &Value, k: &Kind) -> Vec<Value> {
    let nodes: &[Value] = ui["nodes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let group = |n: &Value| n["group"].as_str().unwrap_or("default").to_owned();
    let mut groups: Vec<String> = Vec::new();
    for n in nodes {
        let g = group(n);
        if g != "default" && !groups.contains(&g) {
            groups.push(g);
        }
    }
    let defaults: Vec<&Value> = nodes.iter().filter(|n| group(n) == "default").collect();
    let has_visible_defaults = defaults.iter().any(|n| !is_hidden(n));
    if groups.is_empty() && !defaults.is_empty() {
        groups.push("default".into());
    }
    let visible_home = groups
        .iter()
        .position(|g| USES_IDENTIFIER.contains(&g.as_str()))
        .unwrap_or(0);
    let action = ui["action"].as_str().unwrap_or_default();
    let method = match ui["method"].as_str() {
        Some(m) if m.eq_ignore_ascii_case("get") => "get",
        _ => "post",
    };
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut seen: Vec<String> = Vec::new();
            let members = nodes.iter().filter(|n| {
                let ng = group(n);
                if ng == *g {
                    return true;
                }
                ng == "default" && (is_hidden(n) || (has_visible_defaults && i == visible_home))
            });
            let rendered: Vec<Value> = members.filter_map(|n| node(n, i, k, &mut seen)).collect();
            json!({"group": g, "action": action, "method": method, "nodes": rendered})
        })
        .collect()
}

/// An HTML id from a form index and a node name, unique on the page.
fn dom_id(form: usize, name: &str, seen: &mut Vec<String>) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut id = format!("f{form}-{clean}");
    let mut n = 1;
    while seen.contains(&id) {
        n += 1;
        id = format!("f{form}-{clean}-{n}");
    }
    seen.push(id.clone());
    id
}

/// A sensible `autocomplete` when the node has none.
fn autocomplete(name: &str, input_type: &str, k: &Kind) -> &'static str {
    match (name, input_type) {
        ("identifier", _) => "username",
        (_, "password") if matches!(k.kind, FlowKind::Login) => "current-password",
        (_, "password") => "new-password",
        ("traits.email" | "email", _) | (_, "email") => "email",
        ("traits.name", _) => "name",
        ("traits.name.first", _) => "given-name",
        ("traits.name.last", _) => "family-name",
        ("totp_code" | "code" | "lookup_secret", _) => "one-time-code",
        _ => "off",
    }
}

/// One node as the template sees it, with `kind`: hidden, input, checkbox, submit, button, img,
/// text or a. Script nodes are not rendered here (see [`webauthn_script`]); a WebAuthn button
/// gets its `trigger` for `data-webauthn-trigger`, never its `onclick`.
fn node(n: &Value, form: usize, k: &Kind, seen: &mut Vec<String>) -> Option<Value> {
    let a = &n["attributes"];
    let label = n["meta"]["label"]["text"].as_str().unwrap_or_default();
    let messages = messages(&n["messages"]);
    let invalid = messages.iter().any(|m| m["type"] == "error");
    match n["type"].as_str()? {
        "input" => {
            let name = a["name"].as_str().unwrap_or_default();
            let ty = a["type"].as_str().unwrap_or("text");
            let kind = match ty {
                "hidden" => "hidden",
                "submit" => "submit",
                "button" => "button",
                "checkbox" => "checkbox",
                _ => "input",
            };
            let input_type = match ty {
                "email" | "password" | "number" | "tel" | "url" | "date" => ty,
                _ => "text",
            };
            let auto = a["autocomplete"]
                .as_str()
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .unwrap_or_else(|| autocomplete(name, input_type, k).to_owned());
            let label = if label.is_empty() { name } else { label };
            let trigger = a["onclickTrigger"]
                .as_str()
                .filter(|t| kind == "button" && WEBAUTHN_TRIGGERS.contains(t));
            Some(json!({
                "kind": kind,
                "id": dom_id(form, name, seen),
                "name": name,
                "type": input_type,
                "value": text_of(&a["value"]),
                "checked": a["value"] == true,
                "label": label,
                "required": a["required"] == true,
                "disabled": a["disabled"] == true,
                "autocomplete": auto,
                "pattern": a["pattern"].as_str(),
                "numeric": matches!(name, "totp_code" | "code"),
                "trigger": trigger,
                "messages": messages,
                "invalid": invalid,
            }))
        }
        "img" => Some(json!({
            "kind": "img",
            "id": dom_id(form, a["id"].as_str().unwrap_or("img"), seen),
            "src": a["src"].as_str().filter(|u| u.starts_with("data:image/")),
            "width": a["width"].as_u64(),
            "height": a["height"].as_u64(),
            "label": label,
            "messages": messages,
        })),
        "text" => {
            let t = &a["text"];
            let secrets: Vec<String> = t["context"]["secrets"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .map(|x| match x {
                            Value::String(v) => v.clone(),
                            o => o["context"]["secret"]
                                .as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| text_of(&o["text"])),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(json!({
                "kind": "text",
                "id": dom_id(form, a["id"].as_str().unwrap_or("text"), seen),
                "label": label,
                "text": text_of(&t["text"]),
                "secrets": secrets,
                "messages": messages,
            }))
        }
        "a" => {
            let href = a["href"].as_str().filter(|h| {
                h.starts_with("https://") || h.starts_with("http://") || h.starts_with('/')
            })?;
            Some(json!({
                "kind": "a",
                "id": dom_id(form, a["id"].as_str().unwrap_or("link"), seen),
                "href": href,
                "text": text_of(&a["title"]["text"]),
                "messages": messages,
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::pages::Pages;

    fn input(group: &str, name: &str, ty: &str, value: Value, label: &str) -> Value {
        json!({
            "type": "input", "group": group,
            "attributes": {"name": name, "type": ty, "value": value, "required": ty != "submit", "disabled": false, "node_type": "input"},
            "messages": [], "meta": if label.is_empty() { json!({}) } else { json!({"label": {"id": 1, "text": label, "type": "info"}}) },
        })
    }

    fn settings_ui() -> Value {
        let mut password = input("password", "password", "password", Value::Null, "Password");
        password["messages"] =
            json!([{"id": 4000005, "text": "The password is too short <b>", "type": "error"}]);
        json!({
            "action": "https://id.example.com/self-service/settings?flow=f1",
            "method": "POST",
            "messages": [{"id": 1050001, "text": "Your changes have been saved!", "type": "success"}],
            "nodes": [
                input("default", "csrf_token", "hidden", json!("tok\"en"), ""),
                input("profile", "traits.email", "email", json!("a@example.com"), "E-Mail"),
                input("profile", "method", "submit", json!("profile"), "Save"),
                password,
                input("password", "method", "submit", json!("password"), "Save"),
                {"type": "img", "group": "totp", "attributes": {"id": "totp_qr", "src": "data:image/png;base64,AAAA", "width": 256, "height": 256, "node_type": "img"}, "messages": [], "meta": {"label": {"id": 1050005, "text": "Authenticator app QR code", "type": "info"}}},
                {"type": "text", "group": "totp", "attributes": {"id": "totp_secret_key", "text": {"id": 1050006, "text": "JBSWY3DP", "type": "info", "context": {"secret": "JBSWY3DP"}}, "node_type": "text"}, "messages": [], "meta": {"label": {"id": 1050006, "text": "This is your authenticator app secret.", "type": "info"}}},
                input("totp", "totp_code", "text", Value::Null, "Verify code"),
                input("totp", "method", "submit", json!("totp"), "Save"),
                {"type": "text", "group": "lookup_secret", "attributes": {"id": "lookup_secret_codes", "text": {"id": 1050015, "text": "abcd-1234, efgh-5678", "type": "info", "context": {"secrets": [{"id": 1050009, "text": "abcd-1234", "type": "info", "context": {"secret": "abcd-1234"}}, {"id": 1050009, "text": "efgh-5678", "type": "info", "context": {"secret": "efgh-5678"}}]}}, "node_type": "text"}, "messages": [], "meta": {}},
                input("lookup_secret", "lookup_secret_confirm", "checkbox", json!(false), "I saved my codes"),
                {"type": "a", "group": "lookup_secret", "attributes": {"href": "javascript:alert(1)", "title": {"text": "bad"}, "id": "bad", "node_type": "a"}, "messages": [], "meta": {}},
                {"type": "script", "group": "webauthn", "attributes": {"src": "https://id.example.com/.well-known/ory/webauthn.js", "node_type": "script"}, "messages": [], "meta": {}},
            ],
        })
    }

    #[test]
    fn nodes_become_one_form_per_group_each_with_the_csrf_token() {
        let k = kind("settings").expect("kind");
        let forms = forms(&settings_ui(), &k);
        let groups: Vec<&str> = forms.iter().filter_map(|f| f["group"].as_str()).collect();
        assert_eq!(
            groups,
            ["profile", "password", "totp", "lookup_secret", "webauthn"]
        );
        for f in &forms {
            assert_eq!(f["nodes"][0]["kind"], "hidden", "{f}");
            assert_eq!(f["nodes"][0]["name"], "csrf_token");
            assert_eq!(f["method"], "post");
        }
        // Script nodes are not rendered in forms, and neither are javascript: links.
        assert_eq!(forms[4]["nodes"].as_array().map(Vec::len), Some(1));
        assert!(
            forms[3]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|n| n["kind"] != "a")
        );
        assert_eq!(forms[1]["nodes"][1]["autocomplete"], "new-password");
        assert_eq!(forms[1]["nodes"][1]["invalid"], true);
        assert_eq!(
            forms[3]["nodes"][1]["secrets"],
            json!(["abcd-1234", "efgh-5678"])
        );
    }

    #[test]
    fn visible_default_nodes_join_the_password_form_only() {
        let ui = json!({"action": "https://id.example.com/self-service/login?flow=f", "method": "POST", "messages": [], "nodes": [
            input("default", "csrf_token", "hidden", json!("t"), ""),
            input("oidc", "provider", "submit", json!("github"), "Sign in with GitHub"),
            input("default", "identifier", "text", json!(""), "E-Mail"),
            input("password", "password", "password", Value::Null, "Password"),
            input("password", "method", "submit", json!("password"), "Sign in"),
        ]});
        let forms = forms(&ui, &kind("login").expect("kind"));
        let names = |i: usize| -> Vec<String> {
            forms[i]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n["name"].as_str().map(str::to_owned))
                .collect()
        };
        assert_eq!(names(0), ["csrf_token", "provider"]);
        assert_eq!(names(1), ["csrf_token", "identifier", "password", "method"]);
        assert_eq!(forms[1]["nodes"][1]["autocomplete"], "username");
        assert_eq!(forms[1]["nodes"][2]["autocomplete"], "current-password");
    }

    #[test]
    fn the_flow_template_labels_and_escapes_everything() {
        let pages = Pages::load(None).expect("embedded theme");
        let k = kind("settings").expect("kind");
        let ui = settings_ui();
        let msgs = messages(&ui["messages"]);
        let html = pages
            .render(
                "flow.html",
                json!({"ui": "https://id.example.com/ui", "title": k.title, "messages": msgs, "alert": false,
                       "forms": forms(&ui, &k), "links": [{"href": "https://id.example.com/ui/welcome", "text": "Back"}]}),
            )
            .expect("renders");
        assert!(
            html.contains(r#"<div class="messages" role="status" aria-live="polite">"#),
            "{html}"
        );
        assert!(html.contains("Your changes have been saved!"));
        assert_eq!(
            html.matches(r#"<input type="hidden" name="csrf_token" value="tok&quot;en">"#)
                .count(),
            5,
            "{html}"
        );
        assert!(html.contains(r#"<label for="f0-traits-email">E-Mail</label>"#));
        assert!(html.contains(r#"<input id="f0-traits-email" name="traits.email" type="email" value="a@example.com" autocomplete="email" required>"#), "{html}");
        assert!(html.contains(r#"<label for="f1-password">Password</label>"#));
        assert!(
            html.contains(r#"aria-invalid="true" aria-describedby="f1-password-msg""#),
            "{html}"
        );
        assert!(html.contains("The password is too short &lt;b&gt;"));
        assert!(html.contains(r#"<button type="submit" class="button" name="method" value="password">Save</button>"#), "{html}");
        assert!(html.contains(r#"<img src="data:image&#x2f;png;base64,AAAA" alt="Authenticator app QR code" width="256" height="256">"#), "{html}");
        assert!(html.contains("<code>JBSWY3DP</code>"));
        assert!(
            html.contains("<li><code>abcd-1234</code></li><li><code>efgh-5678</code></li>"),
            "{html}"
        );
        assert!(html.contains(r#"inputmode="numeric""#));
        assert!(html.contains(r#"<input type="checkbox" id="f3-lookup_secret_confirm" name="lookup_secret_confirm" value="true" required>"#), "{html}");
        assert!(html.contains(r#"<label for="f3-lookup_secret_confirm">I saved my codes</label>"#));
        assert!(!html.contains("javascript:") && !html.contains("<script"));
    }

    #[test]
    fn webauthn_buttons_name_their_trigger_and_never_carry_inline_handlers() {
        let button = |name: &str, trigger: &str| {
            let mut b = input(
                "webauthn",
                name,
                "button",
                json!("{\"publicKey\":{}}"),
                "Sign in with a passkey",
            );
            b["attributes"]["onclick"] = json!(format!("window.{trigger}({{}})"));
            b["attributes"]["onclickTrigger"] = json!(trigger);
            b
        };
        let ui = json!({"action": "https://id.example.com/self-service/login?flow=f", "method": "POST", "messages": [], "nodes": [
            input("default", "csrf_token", "hidden", json!("t"), ""),
            input("webauthn", "webauthn_login", "hidden", json!(""), ""),
            button("webauthn_login_trigger", "oryWebAuthnLogin"),
            button("other_trigger", "alert"),
            {"type": "script", "group": "webauthn", "attributes": {"src": "https://id.example.com/.well-known/ory/webauthn.js", "node_type": "script"}, "messages": [], "meta": {}},
        ]});
        let forms = forms(&ui, &kind("login").expect("kind"));
        let pages = Pages::load(None).expect("embedded theme");
        let html = pages
            .render(
                "flow.html",
                json!({"ui": "https://id.example.com/ui", "title": "Sign in", "messages": [], "alert": false, "forms": forms, "links": [],
                       "script": {"src": "https://id.example.com/.well-known/ory/webauthn.js?v=x\"", "integrity": "sha256-a+b/c=", "nonce": "n0nce"}}),
            )
            .expect("renders");
        assert!(html.contains(r#"name="webauthn_login_trigger" value="{&quot;publicKey&quot;:{}}" data-webauthn-trigger="oryWebAuthnLogin">Sign in with a passkey</button>"#), "{html}");
        assert!(html.contains(r#"<button type="button" class="button secondary" name="other_trigger" value="{&quot;publicKey&quot;:{}}">"#), "{html}");
        assert!(
            html.contains(r#"<input type="hidden" name="webauthn_login" value="">"#),
            "{html}"
        );
        assert!(
            !html.contains("onclick") && !html.contains("window."),
            "{html}"
        );
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(html.contains(r#"<script src="https:&#x2f;&#x2f;id.example.com&#x2f;.well-known&#x2f;ory&#x2f;webauthn.js?v=x&quot;" integrity="sha256-a+b&#x2f;c=" nonce="n0nce" crossorigin="anonymous" referrerpolicy="no-referrer" defer></script>"#), "{html}");
    }
}

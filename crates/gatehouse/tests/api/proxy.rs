//! The gateway's own reverse proxy over real HTTP, in front of a small upstream on 127.0.0.1:
//! rules decide, the upstream sees the identity headers (never the client's copies), hop-by-hop
//! headers stay on their hop, bodies stream both ways, WebSockets are joined, HTTP/2 comes in,
//! a malformed forwarded header is a 400, upstream failures are 502/504, every answer carries a
//! request id, and shutdown lets a request in flight finish.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode as AxStatus};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::credentials_gateways::free_port;
use crate::gateway::session_token;
use crate::harness::{Backend, TestApp};

/// The upstream: echoes what it received; streams; upgrades; is slow on demand.
struct Upstream {
    port: u16,
    /// The test lets the streamed response's second chunk go.
    release: Arc<Notify>,
    /// The upstream saw the first chunk of a streamed request body.
    got_first: Arc<Notify>,
}

async fn echo(req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let sum: u64 = bytes.iter().map(|b| u64::from(*b)).sum();
    axum::Json(json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body_len": bytes.len(),
        "body_sum": sum,
    }))
    .into_response()
}

impl Upstream {
    async fn start() -> Upstream {
        let release = Arc::new(Notify::new());
        let got_first = Arc::new(Notify::new());
        let (rel, first) = (release.clone(), got_first.clone());
        let app = axum::Router::new()
            .route("/echo", axum::routing::any(echo))
            .route("/echo/{*rest}", axum::routing::any(echo))
            .route(
                "/stream",
                axum::routing::get(move || {
                    let rel = rel.clone();
                    async move {
                        let chunks = futures_util::stream::unfold(0u8, move |n| {
                            let rel = rel.clone();
                            async move {
                                match n {
                                    0 => Some((Ok::<_, std::io::Error>("first;".to_owned()), 1)),
                                    1 => {
                                        rel.notified().await;
                                        Some((Ok("second".to_owned()), 2))
                                    }
                                    _ => None,
                                }
                            }
                        });
                        Body::from_stream(chunks)
                    }
                }),
            )
            .route(
                "/upload",
                axum::routing::post(move |req: Request| {
                    let first = first.clone();
                    async move {
                        let mut body = req.into_body();
                        let mut total = 0usize;
                        let mut told = false;
                        while let Some(frame) = body.frame().await {
                            let Ok(frame) = frame else { break };
                            if let Some(d) = frame.data_ref() {
                                total += d.len();
                                if !told && total > 0 {
                                    told = true;
                                    first.notify_one();
                                }
                            }
                        }
                        format!("received {total}")
                    }
                }),
            )
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "late"
                }),
            )
            .route(
                "/hop",
                axum::routing::get(|| async {
                    let mut r = "hop".into_response();
                    let h = r.headers_mut();
                    h.insert("connection", HeaderValue::from_static("x-resp-hop"));
                    h.insert("x-resp-hop", HeaderValue::from_static("1"));
                    h.insert("x-end-to-end", HeaderValue::from_static("1"));
                    r
                }),
            )
            .route(
                "/ws",
                axum::routing::get(|mut req: Request| async move {
                    let Some(on) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>()
                    else {
                        return (AxStatus::BAD_REQUEST, "no upgrade").into_response();
                    };
                    tokio::spawn(async move {
                        let Ok(io) = on.await else { return };
                        let mut io = hyper_util::rt::TokioIo::new(io);
                        let mut buf = [0u8; 1024];
                        while let Ok(n) = io.read(&mut buf).await {
                            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    });
                    let mut r = AxStatus::SWITCHING_PROTOCOLS.into_response();
                    r.headers_mut()
                        .insert("upgrade", HeaderValue::from_static("websocket"));
                    r.headers_mut()
                        .insert("connection", HeaderValue::from_static("upgrade"));
                    r
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream {
            port,
            release,
            got_first,
        }
    }
}

fn rules(up: u16, dead: u16) -> Value {
    let anon = |id: &str, path: &str, upstream: Value| {
        json!({
            "id": id,
            "match": {"url": format!("http://app.example.com{path}"), "methods": ["GET", "POST"]},
            "authenticators": [{"handler": "anonymous"}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "header", "config": {"headers": {"X-Greeting": "hello {{ print .Subject }}"}}}],
            "upstream": upstream
        })
    };
    json!([
        anon("open", "/open/<**>", json!({"url": format!("http://127.0.0.1:{up}/echo"), "strip_path": "/open"})),
        anon("stream", "/stream", json!({"url": format!("http://127.0.0.1:{up}")})),
        anon("upload", "/upload", json!({"url": format!("http://127.0.0.1:{up}")})),
        anon("slow", "/slow", json!({"url": format!("http://127.0.0.1:{up}")})),
        anon("hop", "/hop", json!({"url": format!("http://127.0.0.1:{up}")})),
        anon("down", "/down", json!({"url": format!("http://127.0.0.1:{dead}")})),
        {
            "id": "no-upstream",
            "match": {"url": "http://app.example.com/no-upstream", "methods": ["GET"]},
            "authenticators": [{"handler": "anonymous"}],
            "authorizer": {"handler": "allow"}
        },
        {
            "id": "app",
            "match": {"url": "http://app.example.com/app/<**>", "methods": ["GET", "POST"]},
            "authenticators": [
                {"handler": "cookie_session"},
                {"handler": "api_key", "config": {"required_scope": ["read:resources"]}}
            ],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "noop"}],
            "errors": [
                {"handler": "redirect", "config": {"to": "http://app.example.com/ui/login", "return_to_query_param": "return_to", "when": [{"error": ["unauthorized"], "request": {"header": {"accept": ["text/html"]}}}]}},
                {"handler": "json"}
            ],
            "upstream": {"url": format!("http://127.0.0.1:{up}/echo"), "preserve_host": true}
        },
        {
            "id": "ws",
            "match": {"url": "http://app.example.com/ws", "methods": ["GET"]},
            "authenticators": [{"handler": "cookie_session"}],
            "authorizer": {"handler": "allow"},
            "upstream": {"url": format!("http://127.0.0.1:{up}")}
        }
    ])
}

async fn proxy_app(dir: &std::path::Path, up: &Upstream) -> TestApp {
    proxy_app_with(dir, up, |_| {}).await
}

/// [`proxy_app`] with more configuration.
async fn proxy_app_with(
    dir: &std::path::Path,
    up: &Upstream,
    more: impl FnOnce(&mut gatehouse::config::RawConfig),
) -> TestApp {
    let path = dir.join("rules.json");
    std::fs::write(&path, rules(up.port, free_port()).to_string()).expect("write rules");
    TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.access_rules.repositories = vec![path.into()];
        c.access_rules.matching_strategy = "glob".into();
        c.access_rules.reload_interval = gatehouse::config::Dur(Duration::from_millis(100));
        c.rate_limits.enabled = false;
        c.serve.proxy.timeout = gatehouse::config::Dur(Duration::from_millis(500));
        more(c);
    })
    .await
}

/// A request through the proxy for `app.example.com`.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.proxy))
        .header("Host", "app.example.com");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().await.expect("request through the proxy");
    let status = resp.status();
    let h = resp.headers().clone();
    (status, h, resp.text().await.unwrap_or_default())
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The proxy's port.
fn proxy_port(app: &TestApp) -> u16 {
    app.proxy
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

/// Reads from a raw connection until `needle` has arrived (or panics after 5 s).
async fn read_until(conn: &mut tokio::net::TcpStream, needle: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains(needle) {
        let n = tokio::time::timeout_at(deadline, conn.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "waited 5 s for {needle:?}; got {:?}",
                    String::from_utf8_lossy(&got)
                )
            })
            .expect("read");
        assert!(
            n > 0,
            "connection closed; got {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// One raw HTTP/1.1 exchange (the request must ask `Connection: close`).
async fn raw(port: u16, request: &str) -> String {
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut out))
        .await
        .expect("answer in time")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_applies_the_rules() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = proxy_app(dir.path(), &up).await;

    // Anonymous: passed on with the path stripped and the query kept; the client's identity
    // and forwarded headers replaced; hop-by-hop headers (and those Connection names) dropped.
    let (status, _, body) = send(
        &app,
        Method::GET,
        "/open/a/b?x=1&y=%2F",
        &[
            ("X-User-ID", "spoofed"),
            ("X-Session-ID", "spoofed"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Host", "evil.example.com"),
            ("Connection", "x-hop"),
            ("X-Hop", "1"),
            ("X-End-To-End", "kept"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = json_of(&body);
    let h = &seen["headers"];
    assert_eq!(seen["uri"], "/echo/a/b?x=1&y=%2F");
    assert_eq!(h["x-user-id"], "anonymous");
    assert_eq!(h["x-session-id"], "");
    assert_eq!(h["x-greeting"], "hello anonymous");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-host"], "app.example.com");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["host"], format!("127.0.0.1:{}", up.port));
    assert_eq!(h["x-end-to-end"], "kept");
    assert!(h.get("x-hop").is_none(), "{h}");

    // A browser without a session is sent to log in, an API client gets JSON 401; neither
    // reaches the upstream.
    let (status, rh, _) = send(
        &app,
        Method::GET,
        "/app/home",
        &[("Accept", "text/html")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    let to = rh["location"].to_str().expect("location");
    assert!(
        to.starts_with(
            "http://app.example.com/ui/login?return_to=http%3A%2F%2Fapp.example.com%2Fapp%2Fhome"
        ),
        "{to}"
    );
    let (status, _, body) = send(&app, Method::GET, "/app/home", &[], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(&body)["error"]["code"], 401);

    // With a session: the identity headers, the original host (preserve_host), a POST body.
    let (uid, token) = session_token(&app, "proxy-user@example.com").await;
    let cookie = format!("gatehouse_session={token}");
    let payload: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let sum: u64 = payload.iter().map(|b| u64::from(*b)).sum();
    let (status, _, body) = send(
        &app,
        Method::POST,
        "/app/items",
        &[("Cookie", &cookie), ("X-User-ID", "spoofed")],
        Some(payload),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = json_of(&body);
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["uri"], "/echo/app/items");
    assert_eq!(seen["headers"]["x-user-id"], uid.as_str());
    assert_eq!(seen["headers"]["host"], "app.example.com");
    assert_eq!(seen["headers"]["x-user-email"], "proxy-user@example.com");
    assert!(
        !seen["headers"]["x-session-id"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(
        seen["body_len"],
        3 * 1024 * 1024,
        "bodies are not cut at the API's 64 KiB limit"
    );
    assert_eq!(seen["body_sum"], sum);

    // A PAT passes with its scopes.
    let (status, pat) = app
        .admin(
            Method::POST,
            "/admin/credentials",
            Some(json!({"kind": "pat", "owner": uid, "name": "cli", "scopes": ["read:resources"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pat}");
    let bearer = format!("Bearer {}", pat["token"].as_str().expect("token"));
    let (status, _, body) = send(
        &app,
        Method::GET,
        "/app/data",
        &[("Authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = json_of(&body);
    assert_eq!(seen["headers"]["x-user-id"], uid.as_str());
    assert_eq!(seen["headers"]["x-token-scopes"], "read:resources");

    // Hostile paths and methods never reach the upstream (sent raw: an HTTP client library
    // would normalise some of them away).
    let port = proxy_port(&app);
    for path in [
        "/open/..%2fapp/x",
        "/open/%2e%2e/app/x",
        "/open/../app/x",
        "/open//x",
        "/open/%252e%252e/app",
        "/open/a%5cb",
    ] {
        let answer = raw(
            port,
            &format!("GET {path} HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
    }
    let answer = raw(
        port,
        "DELETE /open/x HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 404"),
        "no rule for DELETE: {answer}"
    );
    // A method in another case is decided, and passed on, as the upper-case method.
    let answer = raw(port, "pOsT /open/x HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    assert!(answer.contains("\"method\":\"POST\""), "{answer}");
    let answer = raw(
        port,
        "GET /open/x HTTP/1.1\r\nHost: app.example.com/../evil\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "a host with a path: {answer}"
    );

    // Logging out is honoured at once.
    let resp = app
        .http
        .delete(format!("{}/self-service/logout/api", app.public))
        .json(&json!({"session_token": token}))
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, _, _) = send(&app, Method::GET, "/app/home", &[("Cookie", &cookie)], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A rules file that fails to parse leaves the old rules working through the proxy too.
    std::fs::write(dir.path().join("rules.json"), "[{\"id\": ").expect("write");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, _, _) = send(&app, Method::GET, "/open/still", &[], None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_maps_upstream_failures_and_hop_headers() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = proxy_app(dir.path(), &up).await;

    // An upstream that hangs past serve.proxy.timeout (500 ms; it sleeps 3 s): 504.
    let (status, _, body) = send(&app, Method::GET, "/slow", &[], None).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(json_of(&body)["error"]["code"], 504);
    assert_eq!(
        json_of(&body)["error"]["message"],
        "the upstream did not answer in time"
    );
    // An upstream that refuses connections (nothing listens on its port): 502.
    let (status, _, body) = send(&app, Method::GET, "/down", &[], None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(
        json_of(&body)["error"]["message"],
        "the upstream could not be reached"
    );
    // A rule without an upstream: 502 too (the way to the upstream failed, not the client).
    let (status, _, body) = send(&app, Method::GET, "/no-upstream", &[], None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(
        json_of(&body)["error"]["message"],
        "the rule has no upstream"
    );

    // The upstream's own hop-by-hop headers stay on its hop; end-to-end ones come through.
    let direct = reqwest::get(format!("http://127.0.0.1:{}/hop", up.port))
        .await
        .expect("direct");
    assert_eq!(
        direct.headers()["x-resp-hop"],
        "1",
        "the upstream does send it"
    );
    let (status, h, _) = send(&app, Method::GET, "/hop", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.get("x-resp-hop").is_none(), "{h:?}");
    assert_eq!(h["x-end-to-end"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_streams_both_ways_and_joins_websockets() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = proxy_app(dir.path(), &up).await;
    let port = proxy_port(&app);

    // Response streaming: the first chunk arrives while the upstream still holds the second.
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    conn.write_all(b"GET /stream HTTP/1.1\r\nHost: app.example.com\r\n\r\n")
        .await
        .expect("write");
    read_until(&mut conn, "first;").await;
    up.release.notify_one();
    read_until(&mut conn, "second").await;

    // Request streaming: the upstream sees the first chunk before the client sends the rest.
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    conn.write_all(
        b"POST /upload HTTP/1.1\r\nHost: app.example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    )
    .await
    .expect("write");
    tokio::time::timeout(Duration::from_secs(5), up.got_first.notified())
        .await
        .expect("the upstream got the first chunk before the body ended");
    conn.write_all(b"6\r\n world\r\n0\r\n\r\n")
        .await
        .expect("write");
    read_until(&mut conn, "received 11").await;

    // WebSocket: refused without a session, joined end to end with one.
    let (_, token) = session_token(&app, "ws-user@example.com").await;
    let handshake = |cookie: &str| {
        format!(
            "GET /ws HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{cookie}\r\n"
        )
    };
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    conn.write_all(handshake("").as_bytes())
        .await
        .expect("write");
    let answer = read_until(&mut conn, "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    conn.write_all(handshake(&format!("Cookie: gatehouse_session={token}\r\n")).as_bytes())
        .await
        .expect("write");
    let answer = read_until(&mut conn, "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("upgrade: websocket"),
        "{answer}"
    );
    // A masked WebSocket text frame "ping" goes through and comes back byte for byte.
    let frame = [
        0x81u8,
        0x84,
        1,
        2,
        3,
        4,
        b'p' ^ 1,
        b'i' ^ 2,
        b'n' ^ 3,
        b'g' ^ 4,
    ];
    conn.write_all(&frame).await.expect("write frame");
    let mut back = [0u8; 10];
    tokio::time::timeout(Duration::from_secs(5), conn.read_exact(&mut back))
        .await
        .expect("echo in time")
        .expect("read frame");
    assert_eq!(back, frame);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_speaks_http2_and_finishes_requests_at_shutdown() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = proxy_app(dir.path(), &up).await;

    // HTTP/2 with prior knowledge (h2c); the host is the :authority.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", proxy_port(&app)))
        .await
        .expect("connect");
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    let req = axum::http::Request::builder()
        .uri("http://app.example.com/open/h2")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let resp = h2.send_request(req).await.expect("h2 request");
    assert_eq!(resp.version(), axum::http::Version::HTTP_2);
    assert_eq!(resp.status(), AxStatus::OK);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let seen: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(seen["uri"], "/echo/h2");
    assert_eq!(seen["headers"]["x-user-id"], "anonymous");

    // A streamed response in flight when shutdown begins still completes.
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", proxy_port(&app)))
        .await
        .expect("connect");
    conn.write_all(b"GET /stream HTTP/1.1\r\nHost: app.example.com\r\n\r\n")
        .await
        .expect("write");
    read_until(&mut conn, "first;").await;
    app.shut_down();
    tokio::time::sleep(Duration::from_millis(200)).await;
    up.release.notify_one();
    read_until(&mut conn, "second").await;
    // And then the listener is gone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", proxy_port(&app)))
            .await
            .is_err(),
        "the proxy listener is closed after shutdown"
    );
}

/// The proxy decides with the same gateway as the decision API, so its rate limits hold on this
/// path too: past the rule's limit the client gets 429 with `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_applies_the_rate_limits() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rules.json");
    std::fs::write(&path, rules(up.port, free_port()).to_string()).expect("write rules");
    let app = TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.access_rules.repositories = vec![path.into()];
        c.access_rules.matching_strategy = "glob".into();
        c.access_rules.rate_limits.rules.insert("open".into(), 2);
    })
    .await;
    crate::gateway_ratelimit::fresh_window().await;
    for _ in 0..2 {
        let (status, _, body) = send(&app, Method::GET, "/open/a", &[], None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(json_of(&body)["uri"], "/echo/a");
    }
    let (status, headers, body) = send(&app, Method::GET, "/open/a", &[], None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    assert_eq!(json_of(&body)["error"]["code"], 429, "{body}");
    // Another rule keeps its own (unlimited) budget.
    let (status, _, body) = send(&app, Method::GET, "/hop", &[], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A forwarded header the proxy believes (`trust_forwarded_headers`) that is malformed is the
/// client's error: 400 in the gateway's shape, and nothing reaches the upstream. Not believed,
/// the same header changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_forwarded_header_is_a_400() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = proxy_app_with(dir.path(), &up, |c| {
        c.serve.proxy.trust_forwarded_headers = true;
    })
    .await;
    let (status, _, body) = send(
        &app,
        Method::GET,
        "/open/x",
        &[("X-Forwarded-Proto", "gopher")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let e = &json_of(&body)["error"];
    assert_eq!(e["code"], 400);
    assert_eq!(e["message"], "X-Forwarded-Proto is neither http nor https");
    let (status, _, body) = send(
        &app,
        Method::GET,
        "/open/x",
        &[
            ("X-Forwarded-Proto", "http"),
            ("X-Forwarded-For", "10.0.0.1"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        json_of(&body)["headers"]["x-forwarded-for"],
        "10.0.0.1, 127.0.0.1",
        "a believed chain is extended"
    );

    let app = proxy_app(dir.path(), &up).await;
    let (status, _, body) = send(
        &app,
        Method::GET,
        "/open/x",
        &[("X-Forwarded-Proto", "gopher")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "not believed, not read: {body}");
    assert_eq!(json_of(&body)["headers"]["x-forwarded-proto"], "http");
}

/// Whether `id` has the shape of the ids the other listeners make (`<12 letters or digits>-<n>`).
fn generated_request_id(id: &str) -> bool {
    id.split_once('-').is_some_and(|(prefix, n)| {
        prefix.len() == 12
            && prefix.bytes().all(|b| b.is_ascii_alphanumeric())
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Every proxy answer carries an `x-request-id`, as the public, admin and decision listeners'
/// answers do: a new one, or the client's; the upstream gets the same id, so its logs and
/// Gatehouse's can be joined. Refusals and upstream failures carry it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_answers_with_a_request_id_like_the_other_listeners() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = proxy_app(dir.path(), &up).await;

    let public = app
        .http
        .get(format!("{}/health/alive", app.public))
        .send()
        .await
        .expect("public");
    let public_id = public.headers()["x-request-id"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(generated_request_id(&public_id), "{public_id}");

    let (status, h, body) = send(&app, Method::GET, "/open/id", &[], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = h["x-request-id"].to_str().expect("text");
    assert!(generated_request_id(id), "{id}");
    assert_eq!(
        json_of(&body)["headers"]["x-request-id"],
        id,
        "the upstream sees it"
    );
    let (_, h2, _) = send(&app, Method::GET, "/open/id", &[], None).await;
    assert_ne!(h2["x-request-id"], h["x-request-id"], "one id per request");

    let (status, h, body) = send(
        &app,
        Method::GET,
        "/open/id",
        &[("X-Request-Id", "client-chosen-7")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h["x-request-id"], "client-chosen-7");
    assert_eq!(json_of(&body)["headers"]["x-request-id"], "client-chosen-7");

    for (path, want) in [
        ("/app/home", StatusCode::UNAUTHORIZED),
        ("/down", StatusCode::BAD_GATEWAY),
        ("/nowhere", StatusCode::NOT_FOUND),
    ] {
        let (status, h, body) = send(&app, Method::GET, path, &[], None).await;
        assert_eq!(status, want, "{path}: {body}");
        let id = h
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(generated_request_id(id), "{path}: {id:?}");
    }
}

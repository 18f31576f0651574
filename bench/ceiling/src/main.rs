//! Throughput ceiling for `scripts/bench`: answers `GET /` with an empty 200 on
//! 127.0.0.1:<PORT>, the first argument. Anything Gatehouse does is measured
//! against what this does on the same machine.

use axum::{Router, http::StatusCode, routing::get};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args()
        .nth(1)
        .ok_or("usage: gatehouse-bench-ceiling PORT")?
        .parse()?;
    let app = Router::new().route("/", get(|| async { StatusCode::OK }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("ceiling listening on http://127.0.0.1:{port}");
    axum::serve(listener, app).await?;
    Ok(())
}

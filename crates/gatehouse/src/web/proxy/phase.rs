//! The one trait every proxy phase implements, in a leaf the phases and the router share.

use std::future::Future;

use axum::response::Response;

use super::error::ProxyError;

/// One phase of a proxied request (pingora's phases): it takes the request as the phase before
/// left it and answers, usually by calling the next phase and looking at what comes back.
///
/// Phases are called with static dispatch, their futures nested in the one future [`Serve`]
/// boxes per request (as an axum handler's is), so a phase costs no allocation of its own.
/// (A `tower::Service` per phase would need a boxed future each: its `Future` type cannot name
/// an `async` block on stable Rust.)
pub trait Phase<Req>: Send + Sync + 'static {
    fn call(&self, req: Req) -> impl Future<Output = Result<Response, ProxyError>> + Send;
}

//! Pure OAuth 2.0 / OpenID Connect rules: wire types parsed into enums at the edge, and functions
//! of (typed request, client, stored state, now) that answer with a typed result or an RFC error.
//! Nothing here performs I/O or knows about HTTP frameworks.

pub mod access_rule;
pub mod authorize;
pub mod client;
pub mod client_assertion;
pub mod client_auth;
pub mod client_ip;
pub mod credential_scope;
pub mod error;
pub mod forward;
pub mod grant;
pub mod http_auth;
pub mod hydra;
pub mod introspection;
pub mod media;
pub mod pkce;
pub mod redirect;
pub mod rule_repository;
pub mod scope;
pub mod token;
pub mod token_request;

pub use error::{ErrorCode, OAuthError};

//! The authenticators, one file each, every one answering `model::Auth` through
//! `model::Authenticate`. They import the vocabulary (`model`), where credentials are found
//! (`extract`) and the outbound HTTP helpers (`outbound`), never `handlers` or `decide`: only
//! `handlers` builds the `Authenticator` enum from their compiled forms, and `decide` runs them.
//!
//! | handler | file |
//! | --- | --- |
//! | `noop`, `anonymous`, `unauthorized` | `fixed` |
//! | `cookie_session`, `bearer_token` | `session` (Gatehouse's sessions), `remote_session` (`check_session_url`) |
//! | `oauth2_introspection` | `introspection`, `local_introspection` (Gatehouse's tokens), `remote_introspection` (RFC 7662) |
//! | `oauth2_client_credentials` | `client_credentials` |
//! | `jwt` | `jwt` |
//! | `api_key` | `api_key` |

pub mod api_key;
pub mod client_credentials;
pub mod fixed;
pub mod introspection;
pub mod jwt;
pub mod local_introspection;
pub mod remote_introspection;
pub mod remote_session;
pub mod session;

//! Identities in Kratos's model: schemas, the stored identity and its API views, password
//! hashing with bounded concurrency, and the admin operations.

pub mod hasher;
pub mod identifier;
pub mod model;
pub mod observer;
pub mod schema;
pub mod service;

pub use model::Identity;
pub use observer::IdentityObserver;
pub use service::IdentityService;

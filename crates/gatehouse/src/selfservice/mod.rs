//! PLACEHOLDER for the `pages` branch only — replaced on merge by the lead's real self-service
//! module (branch `main`). It holds just the types and signatures the built-in pages are written
//! against; every flow is "not found", so the pages redirect to start a new flow.

use serde_json::Value;

use crate::error::{Error, Result};

/// The kinds of self-service flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    Login,
    Registration,
    Settings,
    Recovery,
    Verification,
}

/// PLACEHOLDER: the lead's `SelfService` replaces this on merge.
#[derive(Debug, Default)]
pub struct SelfService;

impl SelfService {
    /// A flow in Kratos's JSON shape; `Error::Gone` when expired, `Error::NotFound` when unknown.
    pub async fn flow_json(&self, _kind: FlowKind, id: &str, _now: i64) -> Result<Value> {
        Err(Error::NotFound(format!("flow {id} not found")))
    }

    /// A self-service error in Kratos's JSON shape.
    pub async fn error_json(&self, id: &str) -> Result<Value> {
        Err(Error::NotFound(format!("error {id} not found")))
    }
}

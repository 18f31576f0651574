//! `access_rules.*` (Oathkeeper's key names): where the gateway's rules come from and how their
//! URLs are matched.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Dur, key_err};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessRules {
    /// Rule files (a YAML or JSON list of rules) or directories of them (`*.yaml`, `*.yml`,
    /// `*.json`). Unset: no rules, and every decision is a denial.
    pub repositories: Vec<PathBuf>,
    /// `regexp` (default) or `glob`: how the `<...>` parts of `match.url` are read.
    pub matching_strategy: String,
    /// How often the files are checked for changes; a change that fails to parse or validate is
    /// logged and the rules in force stay.
    pub reload_interval: Dur,
}

impl Default for AccessRules {
    fn default() -> Self {
        AccessRules {
            repositories: Vec::new(),
            matching_strategy: "regexp".into(),
            reload_interval: Dur(Duration::from_secs(1)),
        }
    }
}

impl AccessRules {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.matching_strategy.as_str(), "regexp" | "glob") {
            return Err(key_err(
                "access_rules.matching_strategy",
                "expected regexp or glob",
            ));
        }
        if self.reload_interval.0.is_zero() {
            return Err(key_err(
                "access_rules.reload_interval",
                "must be longer than zero",
            ));
        }
        Ok(())
    }
}

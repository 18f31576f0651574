//! The management pages' POST bodies, parsed once into an [`Action`], and the expiry choices the
//! create form offers. Pure: no HTTP, no store, so the bounds are tested here.
//!
//! Every page POSTs to its own URL with `action=create|regenerate|revoke`. The form is bounded
//! before anything looks at it (fields, bytes per field); the finer rules (name length, scopes
//! within the owner's roles, lifetime within `credentials.max_lifetime`) are the credential
//! service's, and its refusals are shown on the page.

use crate::config::CredentialsConfig;
use crate::credentials::Lifetime;

/// More fields than any of the pages' forms sends.
const MAX_FIELDS: usize = 64;
/// Longer than any value a field may hold (the service allows 100 characters for a name and
/// 200 for a reason); longer is refused unread.
const MAX_FIELD_BYTES: usize = 1024;
const DAY: i64 = 86_400;
/// The create form's lifetimes, in days.
const DAYS: [i64; 4] = [7, 30, 90, 365];

/// What a POST asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create(Draft),
    Regenerate { id: uuid::Uuid },
    Revoke { id: uuid::Uuid, reason: String },
}

/// The create form as submitted: shown again, filled in, when the service refuses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    pub name: String,
    pub scopes: Vec<String>,
    pub expires: String,
}

/// Why a POST is refused before it reaches the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not a form these pages send: an error page (400).
    Malformed(&'static str),
    /// The credential id is not one: as any other unknown id (404).
    UnknownId,
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn id(pairs: &[(String, String)]) -> Result<uuid::Uuid, Refused> {
    first(pairs, "id")
        .and_then(|v| uuid::Uuid::parse_str(v.trim()).ok())
        .ok_or(Refused::UnknownId)
}

/// Parses a page's POST body (the CSRF field is the caller's business and is ignored here).
pub fn parse(pairs: &[(String, String)]) -> Result<Action, Refused> {
    if pairs.len() > MAX_FIELDS {
        return Err(Refused::Malformed("The form has too many fields."));
    }
    if pairs
        .iter()
        .any(|(k, v)| k.len() > MAX_FIELD_BYTES || v.len() > MAX_FIELD_BYTES)
    {
        return Err(Refused::Malformed("A field of the form is too long."));
    }
    match first(pairs, "action") {
        Some("create") => Ok(Action::Create(Draft {
            name: first(pairs, "name").unwrap_or_default().to_owned(),
            scopes: pairs
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.clone())
                .collect(),
            expires: first(pairs, "expires").unwrap_or_default().to_owned(),
        })),
        Some("regenerate") => Ok(Action::Regenerate { id: id(pairs)? }),
        Some("revoke") => Ok(Action::Revoke {
            id: id(pairs)?,
            reason: first(pairs, "reason").unwrap_or_default().to_owned(),
        }),
        _ => Err(Refused::Malformed(
            "The form does not say what to do (create, regenerate or revoke).",
        )),
    }
}

/// One entry of the expiry select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub lifetime: Lifetime,
}

/// The lifetimes the create form offers — 7, 30, 90 and 365 days up to
/// `credentials.max_lifetime`, and "Never" only without one (the maximum itself when it is under
/// a week) — and the index of the one selected at first: `credentials.default_lifetime` when
/// offered, else 90 days, else the longest.
pub fn expiry_choices(c: &CredentialsConfig) -> (Vec<Choice>, usize) {
    let max = c.max_lifetime.map(|m| m.secs());
    let mut out: Vec<Choice> = DAYS
        .iter()
        .filter(|d| max.is_none_or(|m| *d * DAY <= m))
        .map(|d| Choice {
            value: format!("{d}d"),
            label: format!("{d} days"),
            lifetime: Lifetime::Secs(d * DAY),
        })
        .collect();
    match max {
        None => out.push(Choice {
            value: "never".into(),
            label: "Never".into(),
            lifetime: Lifetime::Never,
        }),
        Some(m) if out.is_empty() => out.push(Choice {
            value: "max".into(),
            label: format!("{} hours (the maximum)", m / 3600),
            lifetime: Lifetime::Secs(m),
        }),
        Some(_) => {}
    }
    let default = match c.default_lifetime {
        Some(d) => Lifetime::Secs(d.secs()),
        None => Lifetime::Never,
    };
    let selected = out
        .iter()
        .position(|ch| ch.lifetime == default)
        .or_else(|| out.iter().position(|ch| ch.value == "90d"))
        .unwrap_or(out.len().saturating_sub(1));
    (out, selected)
}

impl Draft {
    /// The chosen scopes (each one the page offered) and lifetime (one of `choices`), or the
    /// message to show.
    pub fn resolve(
        &self,
        offered: &[String],
        choices: &[Choice],
    ) -> Result<(Vec<String>, Lifetime), String> {
        if let Some(s) = self.scopes.iter().find(|s| !offered.contains(s)) {
            return Err(format!("The scope {s} cannot be chosen here."));
        }
        if self.scopes.is_empty() {
            return Err("Choose at least one scope.".into());
        }
        let lifetime = choices
            .iter()
            .find(|c| c.value == self.expires)
            .map(|c| c.lifetime)
            .ok_or_else(|| "Choose when it expires.".to_owned())?;
        Ok((self.scopes.clone(), lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dur;
    use std::time::Duration;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const ID: &str = "6f1c1a55-7a52-4c9e-9d1e-3f1f2f7b9a10";

    #[test]
    fn actions_parse_into_their_variants() {
        let create = parse(&pairs(&[
            ("csrf_token", "x"),
            ("action", "create"),
            ("name", "CI"),
            ("scope", "read:*"),
            ("scope", "write:*"),
            ("expires", "30d"),
        ]));
        assert_eq!(
            create,
            Ok(Action::Create(Draft {
                name: "CI".into(),
                scopes: vec!["read:*".into(), "write:*".into()],
                expires: "30d".into(),
            }))
        );
        assert_eq!(
            parse(&pairs(&[("action", "regenerate"), ("id", ID)])),
            Ok(Action::Regenerate {
                id: uuid::Uuid::parse_str(ID).expect("uuid")
            })
        );
        assert_eq!(
            parse(&pairs(&[
                ("action", "revoke"),
                ("id", ID),
                ("reason", "leaked")
            ])),
            Ok(Action::Revoke {
                id: uuid::Uuid::parse_str(ID).expect("uuid"),
                reason: "leaked".into()
            })
        );
    }

    #[test]
    fn bad_forms_are_refused_before_the_service() {
        assert!(matches!(parse(&[]), Err(Refused::Malformed(_))));
        assert!(matches!(
            parse(&pairs(&[("action", "delete")])),
            Err(Refused::Malformed(_))
        ));
        for id in ["", "nope", "../x", "6f1c1a55"] {
            assert_eq!(
                parse(&pairs(&[("action", "revoke"), ("id", id)])),
                Err(Refused::UnknownId),
                "{id}"
            );
        }
        assert_eq!(
            parse(&pairs(&[("action", "regenerate")])),
            Err(Refused::UnknownId)
        );
        let long = "x".repeat(MAX_FIELD_BYTES + 1);
        assert!(matches!(
            parse(&pairs(&[("action", "create"), ("name", &long)])),
            Err(Refused::Malformed(_))
        ));
        let many: Vec<(String, String)> = (0..=MAX_FIELDS)
            .map(|_| ("scope".to_owned(), "read:*".to_owned()))
            .collect();
        assert!(matches!(parse(&many), Err(Refused::Malformed(_))));
    }

    fn config(max_days: Option<u64>, default_days: Option<u64>) -> CredentialsConfig {
        let d = |n: u64| Dur(Duration::from_secs(n * 86_400));
        CredentialsConfig {
            max_lifetime: max_days.map(d),
            default_lifetime: default_days.map(d),
            ..CredentialsConfig::default()
        }
    }

    fn values(c: &[Choice]) -> Vec<&str> {
        c.iter().map(|c| c.value.as_str()).collect()
    }

    #[test]
    fn never_is_offered_only_without_a_maximum() {
        let (c, sel) = expiry_choices(&config(None, Some(90)));
        assert_eq!(values(&c), ["7d", "30d", "90d", "365d", "never"]);
        assert_eq!(c[sel].value, "90d");
        let (c, sel) = expiry_choices(&config(None, None));
        assert_eq!(c[sel].value, "never", "the configured default");

        let (c, sel) = expiry_choices(&config(Some(30), Some(30)));
        assert_eq!(values(&c), ["7d", "30d"]);
        assert_eq!(c[sel].value, "30d");
        let (c, sel) = expiry_choices(&config(Some(100), Some(45)));
        assert_eq!(values(&c), ["7d", "30d", "90d"]);
        assert_eq!(c[sel].value, "90d", "45 days is not offered: 90");
        let (c, sel) = expiry_choices(&config(Some(60), Some(45)));
        assert_eq!(c[sel].value, "30d", "nor 90: the longest");

        let mut tiny = config(None, None);
        tiny.max_lifetime = Some(Dur(Duration::from_secs(2 * 86_400)));
        let (c, sel) = expiry_choices(&tiny);
        assert_eq!(values(&c), ["max"]);
        assert_eq!(c[sel].lifetime, Lifetime::Secs(2 * 86_400));
        assert_eq!(c[0].label, "48 hours (the maximum)");
    }

    #[test]
    fn a_draft_resolves_to_offered_scopes_and_a_choice() {
        let offered = vec!["read:*".to_owned(), "write:*".to_owned()];
        let (choices, _) = expiry_choices(&config(None, Some(90)));
        let draft = |scopes: &[&str], expires: &str| Draft {
            name: "n".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            expires: expires.into(),
        };
        assert_eq!(
            draft(&["read:*"], "7d").resolve(&offered, &choices),
            Ok((vec!["read:*".to_owned()], Lifetime::Secs(7 * DAY)))
        );
        assert_eq!(
            draft(&["write:*"], "never").resolve(&offered, &choices),
            Ok((vec!["write:*".to_owned()], Lifetime::Never))
        );
        assert!(
            draft(&["admin:*"], "7d")
                .resolve(&offered, &choices)
                .is_err()
        );
        assert!(draft(&[], "7d").resolve(&offered, &choices).is_err());
        assert!(
            draft(&["read:*"], "3d")
                .resolve(&offered, &choices)
                .is_err()
        );
        let (capped, _) = expiry_choices(&config(Some(30), Some(30)));
        assert!(
            draft(&["read:*"], "never")
                .resolve(&offered, &capped)
                .is_err(),
            "never is not a choice under a maximum"
        );
    }
}

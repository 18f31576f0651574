//! Credential scopes: `action:resource[:sub...]`, lower case, with a trailing `*` wildcard
//! (`read:*`, `admin:*`, `read:users:*`). A wildcard grants everything below its prefix and
//! nothing beside it: `read:*` grants `read:users` and `read:users:emails`, never `write:users`,
//! and never `read` itself or `readx:users`.
//!
//! Pure functions only; the credentials service and the gateway call them.

/// Longest scope accepted.
pub const MAX_SCOPE_LEN: usize = 128;
/// Most scopes one credential may carry.
pub const MAX_SCOPES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope is empty")]
    Empty,
    #[error("scope is longer than {MAX_SCOPE_LEN} characters")]
    TooLong,
    #[error(
        "scope {0:?} is malformed: expected `action:resource` in lower case (a-z, 0-9, `_`, `-`, `.`), with an optional trailing `:*`"
    )]
    Malformed(String),
    #[error("too many scopes (at most {MAX_SCOPES})")]
    TooMany,
}

fn segment_ok(seg: &str) -> bool {
    !seg.is_empty()
        && seg.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        })
}

/// Checks one scope's syntax: at least two `:`-separated segments, the last of which may be `*`.
pub fn validate(scope: &str) -> Result<(), ScopeError> {
    if scope.is_empty() {
        return Err(ScopeError::Empty);
    }
    if scope.len() > MAX_SCOPE_LEN {
        return Err(ScopeError::TooLong);
    }
    let segments: Vec<&str> = scope.split(':').collect();
    let malformed = || ScopeError::Malformed(scope.to_owned());
    if segments.len() < 2 {
        return Err(malformed());
    }
    let (last, init) = segments.split_last().ok_or_else(malformed)?;
    if !init.iter().all(|s| segment_ok(s)) || !(*last == "*" || segment_ok(last)) {
        return Err(malformed());
    }
    Ok(())
}

/// Validates and normalises a requested list: sorted, duplicates removed, bounded.
pub fn normalize<S: AsRef<str>>(scopes: &[S]) -> Result<Vec<String>, ScopeError> {
    if scopes.len() > MAX_SCOPES {
        return Err(ScopeError::TooMany);
    }
    let mut out = Vec::with_capacity(scopes.len());
    for s in scopes {
        let s = s.as_ref().trim();
        validate(s)?;
        out.push(s.to_owned());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Whether holding `granted` allows `required`. Both are expected to be valid scopes; anything
/// else grants and is granted nothing.
pub fn grants(granted: &str, required: &str) -> bool {
    if validate(granted).is_err() || validate(required).is_err() {
        return false;
    }
    if granted == required {
        return true;
    }
    match granted.strip_suffix('*') {
        // `read:*` → prefix `read:`; `required` must extend it (it may be a narrower wildcard).
        Some(prefix) => required.len() > prefix.len() && required.starts_with(prefix),
        None => false,
    }
}

/// Whether any of `granted` allows `required`.
pub fn any_grants<S: AsRef<str>>(granted: &[S], required: &str) -> bool {
    granted.iter().any(|g| grants(g.as_ref(), required))
}

/// The scopes of `requested` that `allowed` grants, in order.
pub fn restrict<S: AsRef<str>>(requested: &[String], allowed: &[S]) -> Vec<String> {
    requested
        .iter()
        .filter(|r| any_grants(allowed, r))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn syntax() {
        for ok in [
            "read:users",
            "read:*",
            "admin:billing",
            "read:users:*",
            "a:b.c-d_e",
            "v1:x",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "read",
            "*",
            "*:users",
            "read:",
            ":users",
            "Read:users",
            "read:us ers",
            "read:*:x",
            "read::x",
            "read:ü",
            "read:**",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        assert_eq!(
            validate(&format!("read:{}", "x".repeat(200))),
            Err(ScopeError::TooLong)
        );
    }

    #[test]
    fn wildcards() {
        assert!(grants("read:*", "read:users"));
        assert!(grants("read:*", "read:users:emails"));
        assert!(grants("read:*", "read:users:*"));
        assert!(grants("read:*", "read:*"));
        assert!(grants("read:users", "read:users"));
        assert!(!grants("read:*", "write:users"));
        assert!(!grants("read:*", "readx:users"));
        assert!(!grants("read:users", "read:users:emails"));
        assert!(!grants("read:users:*", "read:users"));
        assert!(!grants("read:users:*", "read:usersx"));
        assert!(!grants("admin:*", "read:users"));
        assert!(!grants("read:users", "read:*"));
    }

    #[test]
    fn normalize_sorts_dedups_and_bounds() {
        assert_eq!(
            normalize(&["write:x", "read:x", "write:x"]).expect("valid"),
            vec!["read:x".to_owned(), "write:x".to_owned()]
        );
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("read:r{i}")).collect();
        assert_eq!(normalize(&many), Err(ScopeError::TooMany));
        assert!(normalize(&["read:x", "nope"]).is_err());
    }

    fn segment() -> impl Strategy<Value = String> {
        "[a-z0-9_.-]{1,8}"
    }

    proptest! {
        /// A wildcard never grants across actions: `A:*` never grants `B:...` for B ≠ A.
        #[test]
        fn wildcards_never_cross_actions(a in segment(), b in segment(), rest in proptest::collection::vec(segment(), 1..4)) {
            prop_assume!(a != b);
            let required = format!("{b}:{}", rest.join(":"));
            let wildcard = format!("{a}:*");
            let same_resource = format!("{a}:{}", rest.join(":"));
            prop_assert!(!grants(&wildcard, &required));
            prop_assert!(!grants(&same_resource, &required));
        }

        /// `A:*` grants every scope under `A:`, and a plain scope grants only itself.
        #[test]
        fn wildcards_grant_everything_below(a in segment(), rest in proptest::collection::vec(segment(), 1..4), other in proptest::collection::vec(segment(), 1..4)) {
            let required = format!("{a}:{}", rest.join(":"));
            let wildcard = format!("{a}:*");
            prop_assert!(grants(&wildcard, &required));
            prop_assert!(grants(&required, &required));
            let different = format!("{a}:{}", other.join(":"));
            prop_assert_eq!(grants(&required, &different), required == different);
        }

        /// A narrower wildcard (`A:r:*`) never grants its own parent or siblings.
        #[test]
        fn nested_wildcards_stay_below(a in segment(), r in segment(), s in segment(), t in segment()) {
            let w = format!("{a}:{r}:*");
            let below = format!("{a}:{r}:{t}");
            let parent = format!("{a}:{r}");
            let sibling = format!("{a}:{s}:{t}");
            prop_assert!(grants(&w, &below));
            prop_assert!(!grants(&w, &parent));
            if s != r {
                prop_assert!(!grants(&w, &sibling));
            }
        }

        /// Arbitrary input never panics and malformed input grants nothing.
        #[test]
        fn arbitrary_input_is_safe(g in ".{0,40}", r in ".{0,40}") {
            let granted = grants(&g, &r);
            if validate(&g).is_err() || validate(&r).is_err() {
                prop_assert!(!granted);
            }
        }
    }
}

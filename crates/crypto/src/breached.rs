//! Refusing the most common passwords (NIST SP 800-63B §5.1.1.2: check new passwords against
//! "values known to be commonly-used, expected, or compromised").
//!
//! The list is the top 10,000 of SecLists' `10k-most-common.txt` (see `data/README.md`), bundled
//! into the binary so the check needs no network and no file at run time. It is turned into a
//! `HashSet` of lowercased entries on first use, so that a server that never checks pays nothing
//! and a check is one hash lookup. Matching is case-insensitive: `Password` is as guessable as
//! `password`.

use std::collections::HashSet;
use std::sync::LazyLock;

const LIST: &str = include_str!("../data/common-passwords.txt");

/// Entries longer than this do not exist in the list; longer inputs skip the lowercasing.
const LONGEST_ENTRY: usize = 64;

static COMMON: LazyLock<HashSet<String>> = LazyLock::new(|| {
    LIST.lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.is_empty())
        .map(str::to_lowercase)
        .collect()
});

/// Whether `password` is one of the 10,000 most common passwords, ignoring case.
pub fn is_common_password(password: &str) -> bool {
    if password.is_empty() || password.len() > LONGEST_ENTRY {
        return false;
    }
    COMMON.contains(&password.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_complete() {
        assert_eq!(LIST.lines().count(), 10_000);
        assert_eq!(COMMON.len(), 10_000);
        assert!(COMMON.iter().all(|p| p.len() <= LONGEST_ENTRY));
    }

    #[test]
    fn common_passwords_are_found_in_any_case() {
        for p in [
            "password", "123456", "qwerty", "letmein", "trustno1", "PASSWORD", "DrAgOn",
        ] {
            assert!(is_common_password(p), "{p}");
        }
        // First, last and odd entries of the file.
        for p in [
            "password",
            "eyphed",
            "pic\\'s",
            "??????",
            "0.0.0.000",
            "iloveyou!",
        ] {
            assert!(is_common_password(p), "{p}");
        }
    }

    #[test]
    fn uncommon_passwords_are_not() {
        for p in [
            "",
            "correct horse battery staple",
            "Gatehouse-7f3k9-xq",
            "passwordd",
        ] {
            assert!(!is_common_password(p), "{p}");
        }
        assert!(!is_common_password(&"a".repeat(10_000)));
    }
}

//! Login identifiers and addresses as Gatehouse compares them, so that two strings a person
//! reads as the same address are one account, and strings built to look like another's address
//! are refused rather than registered.
//!
//! [`normalize_identifier`] is what every lookup and every stored identifier goes through:
//! trimmed, Unicode NFKC (fullwidth `ｋ` is `k`, a decomposed `á` is the precomposed one, the
//! Kelvin sign is `K`), lower-cased, and NFKC again (lower-casing can undo it).
//! [`lookalike_problem`] says why a value must not become an identifier or address at all:
//! control and invisible format characters (zero-width spaces and joiners, bidi controls, the
//! byte-order mark, variation selectors, tag characters), and labels that mix Latin, Greek and
//! Cyrillic letters (`kаte` with a Cyrillic `а`), and combining marks left on such letters after
//! NFKC (`a` with a combining overlay). This is a script-mixing rule, not the full Unicode
//! confusables table: a label written wholly in one script is accepted.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The identifier as looked up and stored.
pub fn normalize_identifier(s: &str) -> String {
    let folded: String = s.trim().nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
}

/// Characters that render as nothing or reorder text: never part of an identifier.
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' // soft hyphen
            | '\u{034F}' // combining grapheme joiner
            | '\u{061C}' // Arabic letter mark
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
            | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' // Mongolian selectors and vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}' // separators, bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, bidi isolates
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{FEFF}' // byte-order mark
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}' // tags
            | '\u{E0100}'..='\u{E01EF}') // variation selectors supplement
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
}

/// The script of a letter among the three whose letters look alike; `None` for anything else.
fn script(c: char) -> Option<Script> {
    match c {
        'a'..='z' | 'A'..='Z' => Some(Script::Latin),
        '\u{00C0}'..='\u{024F}'
        | '\u{1E00}'..='\u{1EFF}'
        | '\u{2C60}'..='\u{2C7F}'
        | '\u{A720}'..='\u{A7FF}'
            if c.is_alphabetic() =>
        {
            Some(Script::Latin)
        }
        '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' if c.is_alphabetic() => {
            Some(Script::Greek)
        }
        '\u{0400}'..='\u{052F}'
        | '\u{1C80}'..='\u{1C8F}'
        | '\u{2DE0}'..='\u{2DFF}'
        | '\u{A640}'..='\u{A69F}'
            if c.is_alphabetic() =>
        {
            Some(Script::Cyrillic)
        }
        _ => None,
    }
}

/// Why `value` may not be an identifier or address, or `None`.
pub fn lookalike_problem(value: &str) -> Option<&'static str> {
    if value.chars().any(invisible) {
        return Some("must not contain invisible or formatting characters (zero-width or bidi)");
    }
    let normalized = normalize_identifier(value);
    // After NFKC, an accent on a Latin, Greek or Cyrillic letter that has a precomposed form is
    // composed; a combining mark still left there (an overlay, a stacked dot) only disguises it.
    let mut prev: Option<char> = None;
    for c in normalized.chars() {
        if is_combining_mark(c) && prev.is_some_and(|p| script(p).is_some()) {
            return Some("must not contain combining marks on Latin, Greek or Cyrillic letters");
        }
        if !is_combining_mark(c) {
            prev = Some(c);
        }
    }
    let mixed = normalized.split(['@', '.']).any(|label| {
        let mut seen: Option<Script> = None;
        label.chars().filter_map(script).any(|s| {
            let first = *seen.get_or_insert(s);
            first != s
        })
    });
    mixed.then_some("must not mix Latin, Greek and Cyrillic letters in one part")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalike_email_fullwidth_and_kelvin_fold_to_ascii() {
        assert_eq!(
            normalize_identifier(" \u{212A}ate@example.com "),
            "kate@example.com"
        );
        assert_eq!(
            normalize_identifier("k\u{FF41}te@example.com"),
            "kate@example.com"
        );
        assert_eq!(
            normalize_identifier("KATE@ＥＸＡＭＰＬＥ.com"),
            "kate@example.com"
        );
        assert_eq!(
            normalize_identifier("jose\u{0301}@example.com"),
            normalize_identifier("jos\u{00E9}@example.com")
        );
    }

    #[test]
    fn lookalike_email_invisible_characters_are_refused() {
        for v in [
            "ka\u{200B}te@example.com",
            "kate\u{200D}@example.com",
            "\u{202E}kate@example.com",
            "kate@exa\u{FEFF}mple.com",
            "kate@example.com\u{2066}",
            "ka\u{00AD}te@example.com",
        ] {
            assert!(lookalike_problem(v).is_some(), "{v:?}");
        }
    }

    #[test]
    fn lookalike_email_combining_marks_are_composed_or_refused() {
        // Composable: the same address as the precomposed one, accepted.
        assert_eq!(lookalike_problem("ka\u{0301}te@example.com"), None);
        // Not composable: refused.
        assert!(lookalike_problem("ka\u{0335}te@example.com").is_some());
        assert!(lookalike_problem("kate\u{0338}@example.com").is_some());
        // Marks of scripts that need them are fine.
        assert_eq!(
            lookalike_problem("\u{0928}\u{093F}\u{0915}@example.in"),
            None
        );
    }

    #[test]
    fn lookalike_email_mixed_scripts_are_refused() {
        assert!(lookalike_problem("k\u{0430}te@example.com").is_some());
        assert!(lookalike_problem("kate@ex\u{0430}mple.com").is_some());
        assert!(lookalike_problem("\u{03BA}ate@example.com").is_some());
        // One script per part is fine.
        assert_eq!(lookalike_problem("kate@example.com"), None);
        assert_eq!(lookalike_problem("jos\u{00E9}@example.com"), None);
        assert_eq!(
            lookalike_problem("\u{0438}\u{0432}\u{0430}\u{043D}@example.com"),
            None
        );
        assert_eq!(lookalike_problem("\u{7530}\u{4E2D}@example.jp"), None);
    }
}

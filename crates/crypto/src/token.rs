//! Opaque tokens: `{prefix}_{43 random base62 characters}{6-character CRC32 checksum}`.
//!
//! The prefix names what the token is (so secret scanners and humans can recognise it), the 43
//! random characters carry 256 bits of entropy, and the checksum lets us refuse a mistyped or
//! truncated token without a database read. Only the SHA-256 digest ([`TokenHash`]) is stored.

use std::fmt;
use std::str::FromStr;

use crate::random;

const RANDOM_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;

/// What a token is for; each kind has its own prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    AccessToken,
    RefreshToken,
    AuthorizationCode,
    ClientSecret,
    RegistrationAccessToken,
    LoginChallenge,
    LoginVerifier,
    ConsentChallenge,
    ConsentVerifier,
    LogoutChallenge,
    LogoutVerifier,
    SessionToken,
    PersonalAccessToken,
    ApiKey,
    ServiceToken,
}

impl TokenKind {
    pub const ALL: [TokenKind; 15] = [
        TokenKind::AccessToken,
        TokenKind::RefreshToken,
        TokenKind::AuthorizationCode,
        TokenKind::ClientSecret,
        TokenKind::RegistrationAccessToken,
        TokenKind::LoginChallenge,
        TokenKind::LoginVerifier,
        TokenKind::ConsentChallenge,
        TokenKind::ConsentVerifier,
        TokenKind::LogoutChallenge,
        TokenKind::LogoutVerifier,
        TokenKind::SessionToken,
        TokenKind::PersonalAccessToken,
        TokenKind::ApiKey,
        TokenKind::ServiceToken,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::AccessToken => "gat",
            TokenKind::RefreshToken => "grt",
            TokenKind::AuthorizationCode => "gac",
            TokenKind::ClientSecret => "gcs",
            TokenKind::RegistrationAccessToken => "grat",
            TokenKind::LoginChallenge => "glc",
            TokenKind::LoginVerifier => "glv",
            TokenKind::ConsentChallenge => "gcc",
            TokenKind::ConsentVerifier => "gcv",
            TokenKind::LogoutChallenge => "gloc",
            TokenKind::LogoutVerifier => "glov",
            TokenKind::SessionToken => "gst",
            TokenKind::PersonalAccessToken => "pat",
            TokenKind::ApiKey => "key",
            TokenKind::ServiceToken => "svc",
        }
    }

    fn from_prefix(prefix: &str) -> Option<TokenKind> {
        TokenKind::ALL.into_iter().find(|k| k.prefix() == prefix)
    }
}

/// Why a string is not a well-formed token. Deliberately coarse: callers answer all of these the
/// same way (`invalid_token`), and no database is read for any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenParseError {
    #[error("unknown token prefix")]
    UnknownPrefix,
    #[error("malformed token")]
    Malformed,
    #[error("token checksum mismatch")]
    BadChecksum,
}

/// A token in clear text. It is only ever shown once, to whoever it was issued to; `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainToken {
    kind: TokenKind,
    value: String,
}

impl PlainToken {
    /// A fresh random token of `kind`.
    pub fn generate(kind: TokenKind) -> PlainToken {
        let body = format!("{}_{}", kind.prefix(), random::alphanumeric(RANDOM_LEN));
        let value = format!("{body}{}", checksum(&body));
        PlainToken { kind, value }
    }

    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The clear text, to be handed to the client once.
    pub fn expose(&self) -> &str {
        &self.value
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(crate::sha256(self.value.as_bytes()))
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainToken({}_***)", self.kind.prefix())
    }
}

impl FromStr for PlainToken {
    type Err = TokenParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (prefix, rest) = s.split_once('_').ok_or(TokenParseError::Malformed)?;
        let kind = TokenKind::from_prefix(prefix).ok_or(TokenParseError::UnknownPrefix)?;
        if rest.len() != RANDOM_LEN + CHECKSUM_LEN
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(TokenParseError::Malformed);
        }
        let (body, sum) = s.split_at(s.len() - CHECKSUM_LEN);
        if !crate::ct_eq(checksum(body).as_bytes(), sum.as_bytes()) {
            return Err(TokenParseError::BadChecksum);
        }
        Ok(PlainToken {
            kind,
            value: s.to_owned(),
        })
    }
}

impl PlainToken {
    /// Parses `s` and checks that it is of `kind`.
    pub fn parse_as(s: &str, kind: TokenKind) -> Result<PlainToken, TokenParseError> {
        let t: PlainToken = s.parse()?;
        if t.kind != kind {
            return Err(TokenParseError::UnknownPrefix);
        }
        Ok(t)
    }
}

fn checksum(body: &str) -> String {
    random::base62_fixed(u64::from(crc32fast::hash(body.as_bytes())), CHECKSUM_LEN)
}

/// The SHA-256 digest of a token: the only form in which tokens are stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Lowercase hex, the column format in both databases.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Digest of an arbitrary high-entropy secret that does not follow our format (e.g. one a
    /// client registered itself); still only the digest is stored.
    pub fn of_secret(secret: &str) -> TokenHash {
        TokenHash(crate::sha256(secret.as_bytes()))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// Lowercase hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back() {
        for kind in TokenKind::ALL {
            let t = PlainToken::generate(kind);
            assert!(t.expose().starts_with(&format!("{}_", kind.prefix())));
            let parsed: PlainToken = t.expose().parse().expect("parses");
            assert_eq!(parsed.kind(), kind);
            assert_eq!(parsed.hash(), t.hash());
        }
    }

    #[test]
    fn a_single_typo_is_caught_by_the_checksum() {
        let t = PlainToken::generate(TokenKind::AccessToken);
        let mut chars: Vec<char> = t.expose().chars().collect();
        let i = 10;
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(
            typo.parse::<PlainToken>(),
            Err(TokenParseError::BadChecksum)
        );
    }

    #[test]
    fn malformed_inputs_are_refused() {
        for s in ["", "gat", "gat_", "nope_abc", "gat_short", "gat_ü", "_gat"] {
            assert!(s.parse::<PlainToken>().is_err(), "{s}");
        }
        let t = PlainToken::generate(TokenKind::AccessToken);
        assert!(PlainToken::parse_as(t.expose(), TokenKind::RefreshToken).is_err());
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let t = PlainToken::generate(TokenKind::ClientSecret);
        assert!(!format!("{t:?}").contains(&t.expose()[4..]));
    }
}

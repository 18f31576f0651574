//! PKCE (RFC 7636). Only `S256` is accepted; `plain` is refused as RFC 9700 recommends.

use crate::error::OAuthError;

/// A code challenge as sent to the authorization endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeChallenge(pub String);

impl CodeChallenge {
    /// Parses `code_challenge` and `code_challenge_method` (which defaults to `plain` per the RFC,
    /// and is therefore refused when absent).
    pub fn parse(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<CodeChallenge>, OAuthError> {
        match (challenge, method) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(OAuthError::invalid_request(
                "code_challenge_method was sent without code_challenge.",
            )),
            (Some(c), Some("S256")) => {
                if c.len() != 43 || !c.bytes().all(is_unreserved) {
                    return Err(OAuthError::invalid_request(
                        "code_challenge must be 43 base64url characters (S256).",
                    ));
                }
                Ok(Some(CodeChallenge(c.to_owned())))
            }
            (Some(_), _) => Err(OAuthError::invalid_request(
                "Only the S256 code_challenge_method is supported.",
            )),
        }
    }

    /// Checks a `code_verifier` (43-128 unreserved characters) against the challenge.
    pub fn verify(&self, verifier: &str) -> bool {
        if !(43..=128).contains(&verifier.len()) || !verifier.bytes().all(is_unreserved) {
            return false;
        }
        let digest = gatehouse_crypto::sha256(verifier.as_bytes());
        gatehouse_crypto::ct_eq(
            gatehouse_crypto::b64::encode(digest).as_bytes(),
            self.0.as_bytes(),
        )
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_an_independently_computed_challenge() {
        let c = CodeChallenge::parse(
            Some("t2PzgwpGIAiq1EyA27txBw1d9FQAzP_RKgClcuWqpSA"),
            Some("S256"),
        )
        .expect("valid")
        .expect("present");
        assert!(c.verify("dBjftJeZ4CVP-mA0vHZ8tRxmhNmsX0GbHq8n35Ds0Ic"));
        assert!(!c.verify("dBjftJeZ4CVP-mA0vHZ8tRxmhNmsX0GbHq8n35Ds0Id"));
        assert!(!c.verify("short"));
    }

    #[test]
    fn plain_and_missing_method_are_refused() {
        assert!(
            CodeChallenge::parse(
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                Some("plain")
            )
            .is_err()
        );
        assert!(
            CodeChallenge::parse(Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), None)
                .is_err()
        );
        assert!(CodeChallenge::parse(None, Some("S256")).is_err());
        assert_eq!(CodeChallenge::parse(None, None), Ok(None));
    }
}

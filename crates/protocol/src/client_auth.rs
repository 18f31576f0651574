//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3,
//! RFC 7523 §2.2): the credentials a request presented, against the one method the client
//! registered. Every refusal is the same [`failed`], so the answer does not tell which part
//! was wrong. Looking the client up, and verifying an assertion with its keys, are the domain's.

use gatehouse_crypto::TokenHash;

use crate::client::AuthMethod;
use crate::error::OAuthError;
use crate::token_request::ClientCredentials;

/// The one `invalid_client` of every failed client authentication.
pub fn failed() -> OAuthError {
    OAuthError::invalid_client(
        "Client authentication failed (unknown client, no client authentication included, or unsupported authentication method).",
    )
}

/// What presented credentials prove about a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// The client is authenticated.
    Authenticated,
    /// The client is not authenticated: [`failed`].
    Refused,
    /// The client is authenticated if this assertion (`private_key_jwt`) verifies with one of
    /// its keys and its claims hold ([`crate::client_assertion::check_claims`]).
    Assertion(&'a str),
}

/// Checks `creds` against the client's registered `method` and the digest of its secret.
pub fn check<'a>(
    creds: &'a ClientCredentials,
    method: AuthMethod,
    secret_hash: Option<&str>,
) -> Verdict<'a> {
    let proven = match (creds, method) {
        (ClientCredentials::Basic { secret, .. }, AuthMethod::ClientSecretBasic)
        | (ClientCredentials::Post { secret, .. }, AuthMethod::ClientSecretPost) => {
            secret_hash.is_some_and(|h| secret_matches(secret, h))
        }
        (ClientCredentials::None { .. }, AuthMethod::None) => true,
        (ClientCredentials::Assertion { assertion, .. }, AuthMethod::PrivateKeyJwt) => {
            return Verdict::Assertion(assertion);
        }
        _ => false,
    };
    if proven {
        Verdict::Authenticated
    } else {
        Verdict::Refused
    }
}

/// Whether `secret` is the one whose SHA-256 digest (hex) is `hash`, in constant time.
pub fn secret_matches(secret: &str, hash: &str) -> bool {
    gatehouse_crypto::ct_eq(
        TokenHash::of_secret(secret).to_hex().as_bytes(),
        hash.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn basic(secret: &str) -> ClientCredentials {
        ClientCredentials::Basic {
            client_id: "app".into(),
            secret: secret.into(),
        }
    }

    fn post(secret: &str) -> ClientCredentials {
        ClientCredentials::Post {
            client_id: "app".into(),
            secret: secret.into(),
        }
    }

    fn assertion() -> ClientCredentials {
        ClientCredentials::Assertion {
            client_id: Some("app".into()),
            assertion: "a.b.c".into(),
        }
    }

    fn public() -> ClientCredentials {
        ClientCredentials::None {
            client_id: "app".into(),
        }
    }

    #[test]
    fn refusals() {
        let hash = TokenHash::of_secret("s3cret").to_hex();
        let hash = Some(hash.as_str());
        use AuthMethod as M;
        let cases = [
            (
                "wrong secret (basic)",
                basic("wrong"),
                M::ClientSecretBasic,
                hash,
            ),
            (
                "wrong secret (post)",
                post("wrong"),
                M::ClientSecretPost,
                hash,
            ),
            ("empty secret", basic(""), M::ClientSecretBasic, hash),
            (
                "no secret stored",
                basic("s3cret"),
                M::ClientSecretBasic,
                None,
            ),
            (
                "post for a basic client",
                post("s3cret"),
                M::ClientSecretBasic,
                hash,
            ),
            (
                "basic for a post client",
                basic("s3cret"),
                M::ClientSecretPost,
                hash,
            ),
            (
                "a secret for a public client",
                basic("s3cret"),
                M::None,
                hash,
            ),
            (
                "a secret for a private_key_jwt client",
                post("s3cret"),
                M::PrivateKeyJwt,
                hash,
            ),
            (
                "no secret for a basic client",
                public(),
                M::ClientSecretBasic,
                hash,
            ),
            (
                "no secret for a post client",
                public(),
                M::ClientSecretPost,
                hash,
            ),
            (
                "no assertion for a private_key_jwt client",
                public(),
                M::PrivateKeyJwt,
                hash,
            ),
            (
                "an assertion for a basic client",
                assertion(),
                M::ClientSecretBasic,
                hash,
            ),
            (
                "an assertion for a public client",
                assertion(),
                M::None,
                hash,
            ),
        ];
        for (name, creds, method, stored) in cases {
            assert_eq!(check(&creds, method, stored), Verdict::Refused, "{name}");
        }
        assert_eq!(failed().error, ErrorCode::InvalidClient);
    }

    #[test]
    fn the_registered_method_with_the_right_proof_authenticates() {
        let hash = TokenHash::of_secret("s3cret").to_hex();
        let hash = Some(hash.as_str());
        assert_eq!(
            check(&basic("s3cret"), AuthMethod::ClientSecretBasic, hash),
            Verdict::Authenticated
        );
        assert_eq!(
            check(&post("s3cret"), AuthMethod::ClientSecretPost, hash),
            Verdict::Authenticated
        );
        assert_eq!(
            check(&public(), AuthMethod::None, None),
            Verdict::Authenticated
        );
        assert_eq!(
            check(&assertion(), AuthMethod::PrivateKeyJwt, None),
            Verdict::Assertion("a.b.c")
        );
    }
}

//! The operator bearer token that guards mutating endpoints.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// The operator's secret (from `operator_token_file`). Compared by digest, so the
/// comparison takes the same time wherever the given token differs.
#[derive(Clone)]
pub struct OperatorToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorToken(..)")
    }
}

impl OperatorToken {
    /// Shortest token accepted, in bytes.
    pub const LEN_MIN: usize = 16;

    /// The token `secret`, if long enough.
    pub fn new(secret: &[u8]) -> Option<Self> {
        (secret.len() >= Self::LEN_MIN).then(|| Self {
            digest: Sha256::digest(secret).into(),
        })
    }

    fn matches(&self, given: &[u8]) -> bool {
        let given: [u8; 32] = Sha256::digest(given).into();
        given
            .iter()
            .zip(self.digest.iter())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
    }
}

/// Why a mutating request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum AuthRefusal {
    /// The node has no operator token, so it takes no mutating requests.
    #[error("this node has no operator token: set `operator_token_file` in its configuration")]
    NoTokenConfigured,
    /// No `Authorization: Bearer <token>` header.
    #[error("missing `Authorization: Bearer <operator token>` header")]
    MissingBearer,
    /// The bearer token is not the operator token.
    #[error("the bearer token is not this node's operator token")]
    WrongToken,
}

/// Checks the request's bearer token against `token`.
pub fn authorize(token: Option<&OperatorToken>, headers: &HeaderMap) -> Result<(), AuthRefusal> {
    let token = token.ok_or(AuthRefusal::NoTokenConfigured)?;
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(AuthRefusal::MissingBearer)?;
    if token.matches(bearer.trim().as_bytes()) {
        Ok(())
    } else {
        Err(AuthRefusal::WrongToken)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn bearer(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_configured_bearer_token_passes() {
        let token = OperatorToken::new(b"operator secret, 2026").unwrap();
        assert_eq!(authorize(Some(&token), &bearer("Bearer operator secret, 2026")), Ok(()));
        assert_eq!(
            authorize(Some(&token), &bearer("Bearer operator secret, 2027")),
            Err(AuthRefusal::WrongToken)
        );
        assert_eq!(
            authorize(Some(&token), &bearer("Basic b3BlcmF0b3I=")),
            Err(AuthRefusal::MissingBearer)
        );
        assert_eq!(
            authorize(Some(&token), &HeaderMap::new()),
            Err(AuthRefusal::MissingBearer)
        );
        assert_eq!(
            authorize(None, &bearer("Bearer operator secret, 2026")),
            Err(AuthRefusal::NoTokenConfigured)
        );
        assert!(OperatorToken::new(b"short").is_none());
    }
}

//! The answers any route may give besides its own: a credential refused, a body
//! refused, a value in the path or query refused, the node stopped.

use psionic_core::state::Scope;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why a request was refused before it ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum AuthRefusal {
    /// The node has no operator credential, so it takes no such requests.
    #[error("this node has no operator credentials: set `operator_token_file` or `operator_credentials_file`")]
    NoTokenConfigured,
    /// No `Authorization: Bearer <token>` header.
    #[error("missing `Authorization: Bearer <operator token>` header")]
    MissingBearer,
    /// The bearer token is no credential's.
    #[error("the bearer token is not one of this node's operator credentials")]
    WrongToken,
    /// The credential lacks the scope the request needs.
    #[error("credential {credential:?} lacks the scope {needed} this request needs")]
    MissingScope {
        /// The credential's id.
        credential: String,
        /// The scope needed.
        needed: Scope,
    },
}

/// Why a request body was refused before anything was proposed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum BodyRefusal {
    /// The body is longer than the limit.
    #[error("the body is longer than {limit_bytes} bytes")]
    TooLarge {
        /// [`psionic_core::limits::HTTP_BODY_BYTES_MAX`].
        limit_bytes: usize,
    },
    /// The body did not all arrive in time.
    #[error("the body did not arrive within {within_ms} ms")]
    TooSlow {
        /// How long it had.
        within_ms: u64,
    },
    /// The body could not be read.
    #[error("the body could not be read: {message}")]
    Unreadable {
        /// What went wrong.
        message: String,
    },
    /// The body is not JSON.
    #[error("the body is not JSON: {message}")]
    NotJson {
        /// Where and why parsing failed.
        message: String,
    },
    /// The body is JSON, but not of the shape expected (an unknown field, a wrong type).
    #[error("the body is not of the shape expected: {message}")]
    WrongShape {
        /// Where and why decoding failed.
        message: String,
    },
}

/// An answer any route may give instead of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Failure {
    /// The credential was refused (401 without a known token, 403 without the scope).
    Unauthorized {
        /// Why.
        reason: AuthRefusal,
        /// The reason in words.
        message: String,
    },
    /// A value in the path or query is not of the form expected (400).
    BadRequest {
        /// Which.
        field: String,
        /// What it must be.
        expected: String,
    },
    /// The node stopped before answering (503).
    NodeStopped,
    /// The body was refused.
    #[serde(untagged)]
    Body(BodyRefusal),
}

impl Failure {
    /// `field` is not `expected`.
    pub fn bad_request(field: &str, expected: &str) -> Self {
        Self::BadRequest {
            field: field.to_owned(),
            expected: expected.to_owned(),
        }
    }
}

/// A route's answer as a client reads it: the route's own, or a failure any route may
/// give.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reply<T> {
    /// The route's own answer.
    Answer(T),
    /// A failure any route may give.
    Failure(Failure),
}

impl<T: DeserializeOwned> Reply<T> {
    /// Decodes a body.
    pub fn decode(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

impl<T> Reply<T> {
    /// The route's own answer, if it gave one.
    pub fn answer(self) -> Option<T> {
        match self {
            Reply::Answer(answer) => Some(answer),
            Reply::Failure(_) => None,
        }
    }
}

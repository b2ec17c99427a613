//! Request bodies: read only after the bearer token is checked, capped at
//! [`HTTP_BODY_BYTES_MAX`], and decoded as JSON with a typed answer for each failure.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use psionic_core::limits::HTTP_BODY_BYTES_MAX;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a request body was refused before anything was proposed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum BodyRefusal {
    /// The body is longer than the limit.
    TooLarge {
        /// [`HTTP_BODY_BYTES_MAX`].
        limit_bytes: usize,
    },
    /// The body did not all arrive in time.
    TooSlow {
        /// How long it had.
        within_ms: u64,
    },
    /// The body could not be read.
    Unreadable {
        /// What went wrong.
        message: String,
    },
    /// The body is not JSON.
    NotJson {
        /// Where and why parsing failed.
        message: String,
    },
    /// The body is JSON, but not of the shape expected (an unknown field, a wrong type).
    WrongShape {
        /// Where and why decoding failed.
        message: String,
    },
}

impl IntoResponse for BodyRefusal {
    fn into_response(self) -> Response {
        let status = match self {
            BodyRefusal::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyRefusal::TooSlow { .. } => StatusCode::REQUEST_TIMEOUT,
            BodyRefusal::Unreadable { .. } | BodyRefusal::NotJson { .. } => StatusCode::BAD_REQUEST,
            BodyRefusal::WrongShape { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        };
        (status, Json(self)).into_response()
    }
}

/// Decodes `body` (as the `Bytes` extractor delivered it, under the route's body
/// limit) as JSON.
pub fn decode<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, BodyRefusal> {
    let bytes = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => BodyRefusal::TooLarge {
            limit_bytes: HTTP_BODY_BYTES_MAX,
        },
        _ => BodyRefusal::Unreadable {
            message: rejection.body_text(),
        },
    })?;
    serde_json::from_slice(&bytes).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => BodyRefusal::WrongShape {
            message: error.to_string(),
        },
        _ => BodyRefusal::NotJson {
            message: error.to_string(),
        },
    })
}

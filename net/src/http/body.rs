//! Request bodies: read only after the bearer token is checked, capped at
//! [`HTTP_BODY_BYTES_MAX`], and decoded as JSON with a typed answer for each failure.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use psionic_core::limits::HTTP_BODY_BYTES_MAX;

pub use crate::api::BodyRefusal;
use serde::de::DeserializeOwned;

impl IntoResponse for BodyRefusal {
    fn into_response(self) -> Response {
        (status_of(&self), Json(self)).into_response()
    }
}

/// The status a body refusal is answered with.
pub(super) fn status_of(refusal: &BodyRefusal) -> StatusCode {
    match refusal {
        BodyRefusal::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        BodyRefusal::TooSlow { .. } => StatusCode::REQUEST_TIMEOUT,
        BodyRefusal::Unreadable { .. } | BodyRefusal::NotJson { .. } => StatusCode::BAD_REQUEST,
        BodyRefusal::WrongShape { .. } => StatusCode::UNPROCESSABLE_ENTITY,
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

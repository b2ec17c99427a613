//! `POST /v1/leadership/transfer`: hands leadership to another voter (the one named by
//! `to`, else the most up to date). The leader takes no proposals until the target,
//! caught up, has been told to stand, or an election timeout has passed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use psionic_core::NodeId;
use psionic_core::consensus::TransferRefusal;
use psionic_core::digest::from_hex;
use serde::{Deserialize, Serialize};

use super::{ApiState, body};

/// The body of `POST /v1/leadership/transfer`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    /// The voter to hand over to (32 hex digits); none: the most up to date.
    to: Option<String>,
}

/// The answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
enum TransferAnswer {
    /// The target is being brought up to date and told to stand.
    Transferring { to: String },
    /// Not started.
    Refused { refusal: TransferRefusal, message: String },
    /// `to` is not a node id.
    BadRequest {
        field: &'static str,
        expected: &'static str,
    },
    /// The node stopped first.
    Unknown,
}

pub(super) async fn post_transfer(State(api): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    let request: TransferBody = match body::decode(body) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let to = match request.to.as_deref().map(from_hex::<16>) {
        None => None,
        Some(Some(bytes)) => Some(NodeId(bytes)),
        Some(None) => {
            let answer = TransferAnswer::BadRequest {
                field: "to",
                expected: "a node id: 32 hex digits",
            };
            return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
        }
    };
    let (status, answer) = match api.client.transfer_leadership_to(to).await {
        Ok(to) => (StatusCode::OK, TransferAnswer::Transferring { to: to.to_string() }),
        Err(Some(refusal)) => {
            let status = match refusal {
                TransferRefusal::NotLeader { .. } => StatusCode::MISDIRECTED_REQUEST,
                TransferRefusal::NotAVoter { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                TransferRefusal::NoOtherVoter | TransferRefusal::InProgress { .. } => StatusCode::CONFLICT,
            };
            let message = refusal.to_string();
            (status, TransferAnswer::Refused { refusal, message })
        }
        Err(None) => (StatusCode::SERVICE_UNAVAILABLE, TransferAnswer::Unknown),
    };
    (status, Json(answer)).into_response()
}

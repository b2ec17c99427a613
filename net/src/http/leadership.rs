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

use super::{ApiState, body};
use crate::api::{Failure, TransferAnswer, TransferBody};

pub(super) async fn post_transfer(State(api): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    let request: TransferBody = match body::decode(body) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let to = match request.to.as_deref().map(from_hex::<16>) {
        None => None,
        Some(Some(bytes)) => Some(NodeId(bytes)),
        Some(None) => {
            return Failure::bad_request("to", "a node id: 32 hex digits").into_response();
        }
    };
    let (status, answer) = match api.client.transfer_leadership_to(to).await {
        Ok(to) => (StatusCode::OK, TransferAnswer::Transferring { to }),
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

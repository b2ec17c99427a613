//! `POST /v1/requests` (operator token) places and dispatches an inference request and
//! answers with its placement (with `"wait": true`, once it ended); `GET
//! /v1/requests/{id}` reports it: running, completed (tokens, result digest, signed
//! evidence) or refused with the reason; `POST /v1/requests/{id}/cancel` (token) ends
//! it and stops it on its executing node.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use psionic_core::digest::from_hex;
use psionic_core::dispatch::{CancelRefusal, InferenceRequest, PlanRequest, SubmitRefusal};
use psionic_core::plan::RequestNeeds;
use psionic_core::{Digest, RequestId};

use super::{ApiState, answer};
use crate::api::{
    CancelAnswer, Failure, PlanAnswer, RequestBody, RequestFailure, RequestRecord, RequestStatus, RequestView,
};
use crate::runtime::{CancelError, SubmitError};

/// Most requests remembered for `GET /v1/requests/{id}`.
const REMEMBERED_MAX: usize = 16_384;

/// Requests submitted through this API, by id.
#[derive(Debug, Clone, Default)]
pub struct RequestTable(Arc<Mutex<BTreeMap<RequestId, RequestRecord>>>);

impl RequestTable {
    pub(super) fn insert(&self, id: RequestId, record: RequestRecord) {
        let mut table = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if table.len() >= REMEMBERED_MAX
            && let Some(oldest) = table.keys().next().copied()
        {
            table.remove(&oldest);
        }
        table.insert(id, record);
    }

    pub(super) fn set_status(&self, id: RequestId, status: RequestStatus) {
        let mut table = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(record) = table.get_mut(&id) {
            record.status = status;
        }
    }

    pub(super) fn get(&self, id: RequestId) -> Option<RequestRecord> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&id).cloned()
    }
}

pub(super) async fn post_request(State(api): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    let body: RequestBody = match super::body::decode(body) {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    let id = match body.id.as_deref() {
        None => {
            let mut bytes = [0; 16];
            crate::entropy::fill(&mut bytes);
            RequestId(bytes)
        }
        Some(text) => match from_hex::<16>(text) {
            Some(bytes) => RequestId(bytes),
            None => return Failure::bad_request("id", "32 hex digits").into_response(),
        },
    };
    let Some(model) = from_hex::<32>(&body.model) else {
        return Failure::bad_request("model", "an artifact digest: 64 hex digits").into_response();
    };
    let Some(sampling) = body.sampling(id) else {
        return Failure::bad_request("temperature", "a number from 0 to 10").into_response();
    };
    let request = InferenceRequest {
        id,
        lane: body.lane,
        needs: RequestNeeds {
            artifact: Digest(model),
            backends: body.backends,
            device_memory_bytes: body.device_memory_bytes,
        },
        prompt: body.prompt.into_bytes(),
        max_tokens: body.max_tokens,
        class: body.class,
        hint: body.hint,
        stream: body.stream,
        sampling,
    };
    if body.stream {
        return match api.client.submit_streaming_through_leader(request).await {
            Ok((placement, outcome, batches)) => {
                let taken = super::streaming::Taken {
                    request: id,
                    placement,
                    outcome,
                    batches,
                };
                super::streaming::events(&api, taken)
            }
            Err(error) => not_taken(error),
        };
    }
    let (placement, outcome) = match api.client.submit_inference_through_leader(request).await {
        Ok(placed) => placed,
        Err(error) => return not_taken(error),
    };
    let record = RequestRecord {
        placement,
        status: RequestStatus::Running,
    };
    api.requests.insert(id, record.clone());
    let table = api.requests.clone();
    let follow = async move {
        let status = match outcome.await {
            Ok(outcome) => RequestStatus::Ended { outcome },
            Err(_) => RequestStatus::Unknown,
        };
        table.set_status(id, status);
    };
    if body.wait {
        follow.await;
    } else {
        tokio::spawn(follow);
    }
    let record = api.requests.get(id).unwrap_or(record);
    answer(StatusCode::OK, RequestView { request: id, record })
}

/// The answer to a request that was not taken.
fn not_taken(error: SubmitError) -> Response {
    match error {
        SubmitError::Refused(refusal) => refused(refusal),
        SubmitError::Stopped => {
            let unknown = RequestFailure::Unknown {
                refusal: None,
                message: None,
            };
            answer(StatusCode::SERVICE_UNAVAILABLE, unknown)
        }
    }
}

fn refused(refusal: SubmitRefusal) -> Response {
    let status = match &refusal {
        SubmitRefusal::NotLeader { .. } => StatusCode::MISDIRECTED_REQUEST,
        SubmitRefusal::InFlight { .. } => StatusCode::CONFLICT,
        SubmitRefusal::Placement(_)
        | SubmitRefusal::ForwardUnanswered { .. }
        | SubmitRefusal::LeaderSilent(_)
        | SubmitRefusal::TooManyForwarded { .. } => StatusCode::SERVICE_UNAVAILABLE,
        SubmitRefusal::Shape(_) | SubmitRefusal::NoBackend => StatusCode::BAD_REQUEST,
    };
    let leader = match &refusal {
        SubmitRefusal::NotLeader { leader_hint } => *leader_hint,
        _ => None,
    };
    let message = refusal.to_string();
    let failure = if refusal.is_certain() {
        RequestFailure::Refused {
            refusal,
            message,
            leader,
        }
    } else {
        RequestFailure::Unknown {
            refusal: Some(refusal),
            message: Some(message),
        }
    };
    answer(status, failure)
}

/// `POST /v1/plans`: the placement a request of any lane would get now (a dry run:
/// nothing is dispatched). Read-only, so no token.
pub(super) async fn post_plan(State(api): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    let request: PlanRequest = match super::body::decode(body) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    match api.client.plan(request).await {
        Some(Ok(placement)) => answer(
            StatusCode::OK,
            PlanAnswer::Placed {
                placement: Box::new(placement),
            },
        ),
        Some(Err(refusal)) => {
            let message = refusal.to_string();
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                PlanAnswer::Refused { refusal, message },
            )
        }
        None => answer(StatusCode::SERVICE_UNAVAILABLE, PlanAnswer::Unknown),
    }
}

pub(super) async fn cancel_request(State(api): State<ApiState>, Path(id): Path<String>) -> Response {
    let Some(bytes) = from_hex::<16>(&id) else {
        return Failure::bad_request("id", "32 hex digits").into_response();
    };
    match api.client.cancel_inference(RequestId(bytes)).await {
        Ok(()) => answer(StatusCode::OK, CancelAnswer::Cancelled),
        Err(CancelError::Refused(refusal)) => {
            let status = match refusal {
                CancelRefusal::NotLeader { .. } => StatusCode::MISDIRECTED_REQUEST,
                CancelRefusal::NotInFlight { .. } => StatusCode::NOT_FOUND,
            };
            let message = refusal.to_string();
            answer(status, CancelAnswer::Refused { refusal, message })
        }
        Err(CancelError::Stopped) => answer(StatusCode::SERVICE_UNAVAILABLE, CancelAnswer::Unknown),
    }
}

pub(super) async fn get_request(State(api): State<ApiState>, Path(id): Path<String>) -> Response {
    let Some(bytes) = from_hex::<16>(&id) else {
        return Failure::bad_request("id", "32 hex digits").into_response();
    };
    let request = RequestId(bytes);
    match api.requests.get(request) {
        Some(record) => answer(StatusCode::OK, RequestView { request, record }),
        None => answer(StatusCode::NOT_FOUND, RequestFailure::UnknownRequest),
    }
}

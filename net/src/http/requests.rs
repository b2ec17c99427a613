//! `POST /v1/requests` (operator token) places and dispatches an inference request and
//! answers with its placement (with `"wait": true`, once it ended); `GET
//! /v1/requests/{id}` reports it: running, completed (tokens, result digest, signed
//! evidence) or refused with the reason; `POST /v1/requests/{id}/cancel` (token) ends
//! it and stops it on its executing node.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use psionic_core::backend::Backend;
use psionic_core::digest::from_hex;
use psionic_core::dispatch::{
    CancelRefusal, InferenceRequest, PlanRequest, RequestLane, RequestOutcome, SubmitRefusal,
};
use psionic_core::plan::{Placement, PlacementHint, RequestNeeds};
use psionic_core::{Digest, NodeId, RequestId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ApiState;
use crate::runtime::{CancelError, SubmitError};

/// Most requests remembered for `GET /v1/requests/{id}`.
const REMEMBERED_MAX: usize = 16_384;

/// Requests submitted through this API, by id.
#[derive(Debug, Clone, Default)]
pub struct RequestTable(Arc<Mutex<BTreeMap<RequestId, RequestRecord>>>);

/// What the API knows of one request.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    /// Where it was placed first (none: forwarded, and the leader's answer with its
    /// placement was lost on the way; its outcome came back).
    pub placement: Option<Placement>,
    /// How it stands.
    #[serde(flatten)]
    pub status: RequestStatus,
}

/// How a request stands.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum RequestStatus {
    /// Placed, not ended yet.
    Running,
    /// It ended.
    Ended {
        /// How.
        outcome: RequestOutcome,
    },
    /// The coordinator stopped before answering.
    Unknown,
}

impl RequestTable {
    fn insert(&self, id: RequestId, record: RequestRecord) {
        let mut table = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if table.len() >= REMEMBERED_MAX
            && let Some(oldest) = table.keys().next().copied()
        {
            table.remove(&oldest);
        }
        table.insert(id, record);
    }

    fn set_status(&self, id: RequestId, status: RequestStatus) {
        let mut table = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(record) = table.get_mut(&id) {
            record.status = status;
        }
    }

    fn get(&self, id: RequestId) -> Option<RequestRecord> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(&id).cloned()
    }
}

/// The body of `POST /v1/requests`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// Request id (32 hex digits); a fresh one when absent.
    pub id: Option<String>,
    /// The model's artifact digest (64 hex digits).
    pub model: String,
    /// `whole-request` (default) or `replicated`.
    #[serde(default = "whole_request")]
    pub lane: RequestLane,
    /// Acceptable backends, most preferred first (default: cuda, then cpu).
    #[serde(default = "cuda_then_cpu")]
    pub backends: Vec<Backend>,
    /// Device memory needed on one device.
    #[serde(default)]
    pub device_memory_bytes: u64,
    /// The prompt (UTF-8).
    pub prompt: String,
    /// Tokens to produce.
    pub max_tokens: u32,
    /// Priority class.
    #[serde(default)]
    pub class: u8,
    /// Answer once the request ended rather than once it was placed.
    #[serde(default)]
    pub wait: bool,
    /// An outside planner's preference: it may only choose among nodes the planner
    /// ranks equal; the placement's notes say whether it was accepted or ignored.
    pub hint: Option<PlacementHint>,
}

fn whole_request() -> RequestLane {
    RequestLane::WholeRequest
}

fn cuda_then_cpu() -> Vec<Backend> {
    vec![Backend::Cuda, Backend::Cpu]
}

fn bad_request(field: &str, expected: &str) -> Response {
    let body = json!({ "outcome": "bad-request", "field": field, "expected": expected });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
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
            None => return bad_request("id", "32 hex digits"),
        },
    };
    let Some(model) = from_hex::<32>(&body.model) else {
        return bad_request("model", "an artifact digest: 64 hex digits");
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
    };
    let (placement, outcome) = match api.client.submit_inference_through_leader(request).await {
        Ok(placed) => placed,
        Err(SubmitError::Refused(refusal)) => return refused(refusal),
        Err(SubmitError::Stopped) => {
            return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "outcome": "unknown" }))).into_response();
        }
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
    (StatusCode::OK, Json(json!({ "request": id, "record": record }))).into_response()
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
        SubmitRefusal::NotLeader { leader_hint } => leader_hint.map(|id: NodeId| id.to_string()),
        _ => None,
    };
    let message = refusal.to_string();
    let outcome = if refusal.is_certain() { "refused" } else { "unknown" };
    let body = json!({ "outcome": outcome, "refusal": refusal, "message": message, "leader": leader });
    (status, Json(body)).into_response()
}

/// `POST /v1/plans`: the placement a request of any lane would get now (a dry run:
/// nothing is dispatched). Read-only, so no token.
pub(super) async fn post_plan(State(api): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    let request: PlanRequest = match super::body::decode(body) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    match api.client.plan(request).await {
        Some(Ok(placement)) => (
            StatusCode::OK,
            Json(json!({ "outcome": "placed", "placement": placement })),
        )
            .into_response(),
        Some(Err(refusal)) => {
            let message = refusal.to_string();
            let body = json!({ "outcome": "refused", "refusal": refusal, "message": message });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "outcome": "unknown" }))).into_response(),
    }
}

pub(super) async fn cancel_request(State(api): State<ApiState>, Path(id): Path<String>) -> Response {
    let Some(bytes) = from_hex::<16>(&id) else {
        return bad_request("id", "32 hex digits");
    };
    match api.client.cancel_inference(RequestId(bytes)).await {
        Ok(()) => (StatusCode::OK, Json(json!({ "outcome": "cancelled" }))).into_response(),
        Err(CancelError::Refused(refusal)) => {
            let status = match refusal {
                CancelRefusal::NotLeader { .. } => StatusCode::MISDIRECTED_REQUEST,
                CancelRefusal::NotInFlight { .. } => StatusCode::NOT_FOUND,
            };
            let message = refusal.to_string();
            (
                status,
                Json(json!({ "outcome": "refused", "refusal": refusal, "message": message })),
            )
                .into_response()
        }
        Err(CancelError::Stopped) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "outcome": "unknown" }))).into_response()
        }
    }
}

pub(super) async fn get_request(State(api): State<ApiState>, Path(id): Path<String>) -> Response {
    let Some(bytes) = from_hex::<16>(&id) else {
        return bad_request("id", "32 hex digits");
    };
    match api.requests.get(RequestId(bytes)) {
        Some(record) => (StatusCode::OK, Json(json!({ "request": id, "record": record }))).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({ "outcome": "unknown-request" }))).into_response(),
    }
}

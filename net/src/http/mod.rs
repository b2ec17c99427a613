//! The operator API. Open: `GET /v1/status`, `GET /metrics` (Prometheus text), `GET
//! /v1/capabilities` (signed by the node).
//! Scope `read` off loopback: `GET /v1/state`, `/v1/members`, `/v1/candidates`,
//! `/v1/requests/{id}`, `POST /v1/plans`. Scope `submit-requests`: `POST
//! /v1/requests`, `/v1/requests/{id}/cancel`. Scope `operate`: `PUT
//! /v1/serving-policy`, `POST /v1/leadership/transfer`. Scope `admin`: `PUT
//! /v1/authorization`. `POST /v1/commands`: the scope its command names
//! (`ClusterCommand::scope`).

mod auth;
mod body;
mod capabilities;
pub mod credentials;
mod leadership;
mod members;
mod metrics;
mod node_key;
mod openai;
mod reads;
mod requests;
mod serve;
mod staging;
mod streaming;
pub mod tls;

pub use crate::api::{RequestBody, RequestRecord, RequestStatus, StatusReport};
pub use auth::{AuthRefusal, Authorized, OPERATOR_TOKEN_ID, TOKEN_LEN_MIN};
pub use body::BodyRefusal;
pub use credentials::Credentials;
pub use requests::RequestTable;
pub use serve::{API_CONNECTIONS_MAX, BODY_WITHIN, HEADERS_WITHIN, serve};

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use psionic_core::ClusterCommand;
use psionic_core::consensus::ProposalRejection;
use psionic_core::limits::HTTP_BODY_BYTES_MAX;
use psionic_core::plan::ServingPolicy;
use psionic_core::state::{AUTHORIZATION_POLICY_NAME, AuthorizationPolicy, Origin, Scope};
use serde::Serialize;
use tokio::sync::watch;

use crate::api::{self, CommandAnswer, Failure};
use crate::metrics::NodeMetrics;
use crate::runtime::{Committed, NodeClient, ProposeError};

/// What the operator API reads and writes through.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// Where discovery listens.
    pub discovery_addr: SocketAddr,
    /// The driver's counters.
    pub metrics: watch::Receiver<NodeMetrics>,
    /// What became of the connections to the peer-stream listener.
    pub peer_streams: std::sync::Arc<crate::stream::StreamCounters>,
    /// For proposals.
    pub client: NodeClient,
    /// The operator credentials accepted (replaced whole on reload); none: every
    /// guarded request is refused.
    pub credentials: std::sync::Arc<std::sync::RwLock<std::sync::Arc<Credentials>>>,
    /// Whether reads of the state, the members and requests need the `read` scope
    /// (the API is bound off loopback).
    pub guarded_reads: bool,
    /// Inference requests submitted through this API.
    pub requests: RequestTable,
    /// What `GET /v1/capabilities` publishes; none: it answers 404.
    pub capabilities: Option<std::sync::Arc<crate::capabilities::CapabilitySource>>,
    /// The node's identity file: capabilities are signed with its key, a key rotation
    /// stages the next key there.
    pub identity_file: crate::IdentityFile,
    /// The models this node's models directory holds (the OpenAI routes name models
    /// by them); none without one.
    pub models: Option<std::sync::Arc<crate::artifacts::Models>>,
}

impl ApiState {
    /// The API of `node`, guarded by `credentials`.
    pub fn of(node: &crate::RunningNode, credentials: Credentials) -> Self {
        Self {
            discovery_addr: node.discovery_addr,
            metrics: node.metrics.clone(),
            peer_streams: node.peer_streams.clone(),
            client: node.client(),
            credentials: std::sync::Arc::new(std::sync::RwLock::new(std::sync::Arc::new(credentials))),
            guarded_reads: false,
            requests: RequestTable::default(),
            capabilities: None,
            identity_file: node.identity_file.clone(),
            models: node.models.clone(),
        }
    }

    /// Publishes capabilities signed with `source`.
    pub fn publish_capabilities(mut self, source: crate::capabilities::CapabilitySource) -> Self {
        self.capabilities = Some(std::sync::Arc::new(source));
        self
    }

    /// The credentials in force.
    pub fn credentials(&self) -> std::sync::Arc<Credentials> {
        self.credentials
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Puts `credentials` in force for every request from now on.
    pub fn replace_credentials(&self, credentials: Credentials) {
        *self
            .credentials
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(credentials);
    }

    /// Reads of the state, the members and requests need the `read` scope when
    /// `off_loopback`.
    pub fn guard_reads(mut self, off_loopback: bool) -> Self {
        self.guarded_reads = off_loopback;
        self
    }
}

/// The operator API's routes. Each checks its credential and scope before anything
/// reads the request's body; every body is read whole, within [`BODY_WITHIN`], before
/// its handler runs.
pub fn router(api: ApiState) -> Router {
    let needing = |scope: Option<Scope>, routes: Router<ApiState>| {
        routes
            .route_layer(middleware::from_fn(serve::read_body_within))
            .route_layer(middleware::from_fn_with_state((api.clone(), scope), auth::require))
    };
    let submit = Router::new()
        .route(api::REQUESTS, post(requests::post_request))
        .route(api::COMPLETIONS, post(openai::post_completion))
        .route(api::CHAT_COMPLETIONS, post(openai::post_chat))
        .route("/v1/requests/{id}/cancel", post(requests::cancel_request));
    let operate = Router::new()
        .route(api::SERVING_POLICY, put(put_serving_policy))
        .route(api::LEADERSHIP_TRANSFER, post(leadership::post_transfer))
        .route(api::STAGE, post(staging::post_stage));
    let admin = Router::new()
        .route(api::AUTHORIZATION, put(put_authorization))
        .route(api::KEY_ROTATION, post(node_key::post_key_rotation));
    let commands = Router::new().route(api::COMMANDS, post(post_command));
    let guarded_reads = Router::new()
        .route(api::STATE, get(get_state))
        .route(api::MEMBERS, get(members::get_members))
        .route(api::CANDIDATES, get(members::get_candidates))
        .route("/v1/requests/{id}", get(requests::get_request))
        .route(api::PLANS, post(requests::post_plan))
        .route_layer(middleware::from_fn(serve::read_body_within))
        .route_layer(middleware::from_fn_with_state(
            api.clone(),
            auth::require_read_off_loopback,
        ));
    Router::new()
        .route(api::STATUS, get(get_status))
        .route(api::METRICS, get(metrics::get_metrics))
        .route(api::CAPABILITIES, get(capabilities::get_capabilities))
        .merge(guarded_reads)
        .merge(needing(Some(Scope::SubmitRequests), submit))
        .merge(needing(Some(Scope::Operate), operate))
        .merge(needing(Some(Scope::Admin), admin))
        .merge(needing(None, commands))
        .layer(DefaultBodyLimit::max(HTTP_BODY_BYTES_MAX))
        .with_state(api)
}

/// `GET /v1/status`, open to monitoring: off loopback it leaves out the candidate
/// ledger (`/v1/candidates` answers it to the `read` scope).
async fn get_status(State(api): State<ApiState>) -> Response {
    let Some(mut status) = api.client.status().await else {
        return node_stopped();
    };
    if api.guarded_reads {
        status.candidates.clear();
    }
    let discovery_addr = api.discovery_addr;
    Json(StatusReport { discovery_addr, status }).into_response()
}

/// The replicated state, linearizable unless the query asks for `serializable` (built
/// on request: it digests the whole state).
async fn get_state(State(api): State<ApiState>, uri: axum::http::Uri) -> Response {
    match reads::read_state(&api, &uri).await {
        Ok(read) => Json(read).into_response(),
        Err(refused) => refused,
    }
}

/// The answer when the node stopped before answering.
pub(super) fn node_stopped() -> Response {
    Failure::NodeStopped.into_response()
}

/// `body` as JSON under `status`.
pub(super) fn answer(status: StatusCode, body: impl Serialize) -> Response {
    (status, Json(body)).into_response()
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = match &self {
            Failure::Unauthorized { reason, .. } => auth::status_of(reason),
            Failure::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Failure::NodeStopped => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Body(refusal) => body::status_of(refusal),
        };
        answer(status, self)
    }
}

/// `POST /v1/commands`: the credential must hold the scope the command names.
async fn post_command(
    State(api): State<ApiState>,
    Extension(authorized): Extension<Authorized>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let command = match body::decode::<ClusterCommand>(body) {
        Ok(command) => command,
        Err(refusal) => return refusal.into_response(),
    };
    match authorized.may(command.scope()) {
        Ok(()) => commit(&api, &authorized, command).await,
        Err(reason) => auth::refused(reason),
    }
}

/// `PUT /v1/serving-policy`: commits the serving policy (JSON; a field left out takes
/// its default) as `set-serving-policy`, answered as `POST /v1/commands` is.
async fn put_serving_policy(
    State(api): State<ApiState>,
    Extension(authorized): Extension<Authorized>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body::decode::<ServingPolicy>(body) {
        Ok(policy) => commit(&api, &authorized, ClusterCommand::SetServingPolicy { policy }).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// `PUT /v1/authorization`: commits the cluster's authorization policy (JSON: scopes
/// by credential id), answered as `POST /v1/commands` is.
async fn put_authorization(
    State(api): State<ApiState>,
    Extension(authorized): Extension<Authorized>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let document = body::decode::<AuthorizationPolicy>(body).map(|policy| policy.to_document());
    commit_policy(&api, &authorized, AUTHORIZATION_POLICY_NAME, document).await
}

/// Commits `document` (or answers why the body gave none) as the policy `name`.
async fn commit_policy(
    api: &ApiState,
    authorized: &Authorized,
    name: &str,
    document: Result<Vec<u8>, BodyRefusal>,
) -> Response {
    match document {
        Ok(document) => {
            let name = name.to_owned();
            commit(api, authorized, ClusterCommand::SetPolicy { name, document }).await
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// Proposes `command` through this node as `authorized`'s, recorded in the entry, and
/// answers with its outcome.
pub(super) async fn commit(api: &ApiState, authorized: &Authorized, command: ClusterCommand) -> Response {
    let origin = Origin::operator(&authorized.credential, &command);
    let (status, answer) = match api.client.propose_through_leader(vec![(origin, command)]).await {
        Ok(committed) => committed_answer(committed[0]),
        Err(ProposeError::Rejected(ProposalRejection::NotLeader { leader_hint })) => (
            StatusCode::MISDIRECTED_REQUEST,
            CommandAnswer::NotLeader { leader: leader_hint },
        ),
        Err(ProposeError::Unknown) => (StatusCode::SERVICE_UNAVAILABLE, CommandAnswer::Unknown),
        Err(ProposeError::NotRunning) => return node_stopped(),
        Err(ProposeError::Rejected(reason)) if !reason.is_certain() => {
            (StatusCode::SERVICE_UNAVAILABLE, CommandAnswer::Unknown)
        }
        Err(ProposeError::Rejected(reason)) => rejected_answer(reason),
    };
    (status, Json(answer)).into_response()
}

fn committed_answer(committed: Committed) -> (StatusCode, CommandAnswer) {
    let Committed { id, index, refusal } = committed;
    let proposal = format!("{}/{}/{}", id.node, id.epoch, id.seq);
    match refusal {
        None => (StatusCode::OK, CommandAnswer::Committed { index, proposal }),
        Some(refusal) => (
            StatusCode::CONFLICT,
            CommandAnswer::Refused {
                index,
                proposal,
                message: refusal.to_string(),
                refusal,
            },
        ),
    }
}

fn rejected_answer(reason: ProposalRejection) -> (StatusCode, CommandAnswer) {
    let status = match reason {
        ProposalRejection::Invalid { .. }
        | ProposalRejection::TokenNotHeld { .. }
        | ProposalRejection::TokenNotHeldByQuorum { .. }
        | ProposalRejection::NotAttested { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ProposalRejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ProposalRejection::ConfigChangePending { .. } | ProposalRejection::Superseded { .. } => StatusCode::CONFLICT,
        ProposalRejection::TransferInProgress
        | ProposalRejection::LeaderTermUncommitted { .. }
        | ProposalRejection::NotLeader { .. }
        | ProposalRejection::SnapshotCovered { .. }
        | ProposalRejection::ForwardUnanswered { .. }
        | ProposalRejection::LeaderSilent(_)
        | ProposalRejection::TooManyForwarded { .. } => StatusCode::SERVICE_UNAVAILABLE,
    };
    let message = reason.to_string();
    (status, CommandAnswer::Rejected { reason, message })
}

//! `POST /v1/artifacts/{digest}/stage`: commits the intent that a node copy an
//! artifact (its residency `staging`), once a linearizable read of the state shows
//! the target a member without it and another member holding it; the copy's progress
//! then shows in `/v1/members`.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use psionic_core::digest::from_hex;
use psionic_core::state::Residency;
use psionic_core::{ClusterCommand, Digest, NodeId, StateReport};

use super::auth::Authorized;
use super::{ApiState, answer, body};
use crate::api::{Failure, StageAnswer, StageBody, StageRefusal};

pub(super) async fn post_stage(
    State(api): State<ApiState>,
    Extension(authorized): Extension<Authorized>,
    Path(digest): Path<String>,
    uri: axum::http::Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(artifact) = from_hex::<32>(&digest).map(Digest) else {
        return Failure::bad_request("digest", "an artifact digest: 64 hex digits").into_response();
    };
    let request: StageBody = match body::decode(body) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(node) = from_hex::<16>(&request.node).map(NodeId) else {
        return Failure::bad_request("node", "a node id: 32 hex digits").into_response();
    };
    // Linearizable unless the query asks otherwise: a lagging view must not refuse.
    let state = match super::reads::read_state(&api, &uri).await {
        Ok(read) => read.report,
        Err(refused) => return refused,
    };
    if let Err(refusal) = check(&state, node, artifact) {
        let message = refusal.to_string();
        return answer(StatusCode::CONFLICT, StageAnswer::Refused { refusal, message });
    }
    let command = ClusterCommand::SetArtifactResidency {
        node,
        artifact,
        residency: Residency::STAGING_ASKED,
    };
    super::commit(&api, &authorized, command).await
}

/// Whether `node` may be asked to stage `artifact`, as `state` shows the cluster.
fn check(state: &StateReport, node: NodeId, artifact: Digest) -> Result<(), StageRefusal> {
    let residency_on = |member: &psionic_core::status::MemberReport| member.artifacts.get(&artifact).copied();
    let Some(target) = state.members.iter().find(|member| member.node_id == node) else {
        return Err(StageRefusal::NotAMember { node });
    };
    if residency_on(target) == Some(Residency::Resident) {
        return Err(StageRefusal::AlreadyResident { artifact, node });
    }
    let held_elsewhere = state
        .members
        .iter()
        .any(|member| member.node_id != node && residency_on(member) == Some(Residency::Resident));
    match held_elsewhere {
        true => Ok(()),
        false => Err(StageRefusal::NoHolder { artifact, node }),
    }
}

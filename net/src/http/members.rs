//! `GET /v1/members`: the replicated membership joined with this node's view of each
//! member's health, backend readiness and telemetry; `GET /v1/candidates`: the peers
//! that are not members.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use psionic_core::{NodeId, PeerStatus};

use super::ApiState;
use crate::api::MemberView;

pub(super) async fn get_members(State(api): State<ApiState>, uri: axum::http::Uri) -> Response {
    let state = match super::reads::read_state(&api, &uri).await {
        Ok(read) => read.report,
        Err(refused) => return refused,
    };
    let Some(status) = api.client.status().await else {
        return super::node_stopped();
    };
    let peers: BTreeMap<NodeId, &PeerStatus> = status.peers.iter().map(|peer| (peer.node_id, peer)).collect();
    let members: Vec<MemberView> = state
        .members
        .iter()
        .map(|member| {
            let peer = peers.get(&member.node_id);
            MemberView {
                node_id: member.node_id,
                role: member.role,
                status: member.status,
                voter: member.voter,
                this_node: member.node_id == status.node_id,
                leader: state.coordinator.leader == Some(member.node_id),
                health: peer.map(|peer| peer.health),
                addr: peer.map(|peer| peer.addr),
                backends: member.backends.clone(),
                artifacts: member.artifacts.clone(),
                telemetry: member.telemetry.clone(),
            }
        })
        .collect();
    Json(members).into_response()
}

/// `GET /v1/candidates`: the authenticated peers that are not members, by this node's
/// log, and how each would join.
pub(super) async fn get_candidates(State(api): State<ApiState>) -> Response {
    match api.client.status().await {
        Some(status) => Json(status.candidates).into_response(),
        None => super::node_stopped(),
    }
}

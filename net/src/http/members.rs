//! `GET /v1/members`: the replicated membership joined with this node's view of each
//! member's health, backend readiness and telemetry; `GET /v1/candidates`: the peers
//! that are not members.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use psionic_core::backend::ReadinessByBackend;
use psionic_core::state::MemberStatus;
use psionic_core::{NodeId, NodeRole, PeerHealth, PeerStatus, TelemetryReport};
use serde::Serialize;

use super::ApiState;

/// One member as this node sees it.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    /// Its id.
    pub node_id: NodeId,
    /// Its role.
    pub role: NodeRole,
    /// Its status in the replicated state.
    pub status: MemberStatus,
    /// Whether it votes.
    pub voter: bool,
    /// Whether it is this node.
    pub this_node: bool,
    /// Whether it leads, as this node sees it.
    pub leader: bool,
    /// Discovery health (absent for this node, or a member never heard from).
    pub health: Option<PeerHealth>,
    /// Its discovery address, if known.
    pub addr: Option<SocketAddr>,
    /// Backend readiness as committed.
    pub backends: ReadinessByBackend,
    /// Free device memory and queue depth as last heard here (the leader hears every
    /// member's; a follower only its own).
    pub telemetry: Option<TelemetryReport>,
}

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

//! The operator API (loopback only): `GET /v1/status`.

use std::net::SocketAddr;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use psionic_core::NodeStatus;
use serde::Serialize;
use tokio::sync::watch;

/// The body of `GET /v1/status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Where discovery listens.
    pub discovery_addr: SocketAddr,
    /// The node's view.
    #[serde(flatten)]
    pub status: NodeStatus,
}

#[derive(Clone)]
struct ApiState {
    discovery_addr: SocketAddr,
    status: watch::Receiver<NodeStatus>,
}

/// The operator API's routes.
pub fn router(discovery_addr: SocketAddr, status: watch::Receiver<NodeStatus>) -> Router {
    Router::new()
        .route("/v1/status", get(get_status))
        .with_state(ApiState { discovery_addr, status })
}

async fn get_status(State(state): State<ApiState>) -> Json<StatusReport> {
    Json(StatusReport {
        discovery_addr: state.discovery_addr,
        status: state.status.borrow().clone(),
    })
}

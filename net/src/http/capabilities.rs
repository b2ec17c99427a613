//! `GET /v1/capabilities`: the node's capabilities, signed with the key its identity
//! file holds (the one in force once a rotation applied; open, like status: it holds
//! nothing secret and anyone may check it offline).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use psionic_core::state::AUTHORIZATION_POLICY_NAME;

use super::ApiState;
use crate::api::CapabilitiesFailure;
use crate::capabilities::{Capabilities, CommittedDigests, SignedCapabilities, TrustAnchors};

pub(super) async fn get_capabilities(State(api): State<ApiState>) -> Response {
    let Some(source) = api.capabilities.clone() else {
        return super::answer(StatusCode::NOT_FOUND, CapabilitiesFailure::NotPublished);
    };
    let (Some(status), Some(state)) = (api.client.status().await, api.client.state_report().await) else {
        return super::node_stopped();
    };
    let identity = match api.identity_file.load().await {
        Ok(identity) => identity,
        Err(error) => {
            let failure = CapabilitiesFailure::NoIdentity {
                message: error.to_string(),
            };
            return super::answer(StatusCode::INTERNAL_SERVER_ERROR, failure);
        }
    };
    let trust = TrustAnchors {
        bundle: source.bundle.clone(),
        authorization_policy: state.policies.get(AUTHORIZATION_POLICY_NAME).copied(),
        admission_token: status
            .admission
            .as_ref()
            .and_then(|admission| admission.committed.or(admission.held.first().copied())),
    };
    let backends = state
        .members
        .iter()
        .find(|member| member.node_id == status.node_id)
        .map(|member| member.backends.clone())
        .unwrap_or_default();
    let capabilities = Capabilities {
        node_id: status.node_id,
        epoch: status.epoch,
        cluster_id: status.cluster_id,
        trust_digest: trust.digest(),
        trust,
        measurement: source.measurement.clone(),
        backends,
        committed: CommittedDigests {
            applied_index: state.applied_index,
            state_digest: state.state_digest,
        },
    };
    Json(SignedCapabilities::sign(capabilities, &identity)).into_response()
}

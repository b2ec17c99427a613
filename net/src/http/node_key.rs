//! `POST /v1/node/key-rotation`: the node makes a new key, keeps it durably in its
//! identity file as the staged key, and answers the command that rotates it (a
//! `rotate-node-key` record signed by its key in force and the new one), to commit
//! through the leader (`psionic-node submit ... -`). The node moves to the new key when
//! the log applies the record; until then it speaks with the old one. Asked again
//! while a key is staged, it answers the record of that key: a node follows one
//! rotation at a time.

use crate::api::NotStaged;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use psionic_core::ClusterCommand;

use super::ApiState;

pub(super) async fn post_key_rotation(State(api): State<ApiState>) -> Response {
    let secret_key = match api.identity_file.staged_or_new().await {
        Ok(secret_key) => secret_key,
        Err(error) => {
            let answer = NotStaged::NotKept {
                message: error.to_string(),
            };
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(answer)).into_response();
        }
    };
    match api.client.stage_key(secret_key).await {
        Some(Ok(rotation)) => Json(ClusterCommand::RotateNodeKey { rotation }).into_response(),
        Some(Err(refusal)) => {
            let message = refusal.to_string();
            (StatusCode::CONFLICT, Json(NotStaged::Refused { refusal, message })).into_response()
        }
        None => super::node_stopped(),
    }
}

//! Reads of the replicated state: linearizable unless the client asks otherwise
//! (`?consistency=serializable`), and answered with the consistency they had.

use std::time::Duration;

use axum::Json;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use psionic_core::StateReport;
use serde::Serialize;

use super::ApiState;
use crate::runtime::{Consistency, ReadError};

/// How long a linearizable read may wait for the leader and the applied state.
const READ_WITHIN: Duration = Duration::from_secs(5);

/// A state report with the consistency it was read with.
#[derive(Debug, Serialize)]
pub(super) struct StateRead {
    /// How it was read.
    pub consistency: Consistency,
    /// What was read.
    #[serde(flatten)]
    pub report: StateReport,
}

/// Why a read was not answered.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
enum ReadAnswer {
    /// The query named an unknown consistency.
    BadRequest {
        field: &'static str,
        expected: &'static str,
    },
    /// A linearizable read was refused: no leader, or it changed (ask again, or read
    /// `serializable` to get this node's view).
    ReadRefused {
        refusal: psionic_core::consensus::reads::ReadRefusal,
        message: String,
    },
    /// The read was not answered in time, or the node stopped.
    Unknown,
}

/// Reads the state with the consistency `uri`'s query asks for.
pub(super) async fn read_state(api: &ApiState, uri: &Uri) -> Result<StateRead, Response> {
    let consistency = consistency(uri).map_err(|answer| (StatusCode::BAD_REQUEST, Json(answer)).into_response())?;
    let read = tokio::time::timeout(READ_WITHIN, api.client.read_state(consistency)).await;
    match read {
        Ok(Ok(report)) => Ok(StateRead { consistency, report }),
        Ok(Err(ReadError::Refused(refusal))) => {
            let message = refusal.to_string();
            let answer = ReadAnswer::ReadRefused { refusal, message };
            Err((StatusCode::SERVICE_UNAVAILABLE, Json(answer)).into_response())
        }
        Ok(Err(ReadError::Stopped)) | Err(_) => {
            Err((StatusCode::SERVICE_UNAVAILABLE, Json(ReadAnswer::Unknown)).into_response())
        }
    }
}

fn consistency(uri: &Uri) -> Result<Consistency, ReadAnswer> {
    let asked = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("consistency="));
    match asked {
        None | Some("linearizable") => Ok(Consistency::Linearizable),
        Some("serializable") => Ok(Consistency::Serializable),
        Some(_) => Err(ReadAnswer::BadRequest {
            field: "consistency",
            expected: "linearizable or serializable",
        }),
    }
}

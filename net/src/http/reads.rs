//! Reads of the replicated state: linearizable unless the client asks otherwise
//! (`?consistency=serializable`), and answered with the consistency they had.

use std::time::Duration;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::ApiState;
use crate::api::{Failure, ReadFailure, StateRead};
use crate::runtime::{Consistency, ReadError};

/// How long a linearizable read may wait for the leader and the applied state.
const READ_WITHIN: Duration = Duration::from_secs(5);

/// Reads the state with the consistency `uri`'s query asks for.
pub(super) async fn read_state(api: &ApiState, uri: &Uri) -> Result<StateRead, Response> {
    let consistency = consistency(uri).map_err(IntoResponse::into_response)?;
    let read = tokio::time::timeout(READ_WITHIN, api.client.read_state(consistency)).await;
    match read {
        Ok(Ok(report)) => Ok(StateRead { consistency, report }),
        Ok(Err(ReadError::Refused(refusal))) => {
            let message = refusal.to_string();
            let answer = ReadFailure::ReadRefused { refusal, message };
            Err(super::answer(StatusCode::SERVICE_UNAVAILABLE, answer))
        }
        Ok(Err(ReadError::Stopped)) | Err(_) => {
            Err(super::answer(StatusCode::SERVICE_UNAVAILABLE, ReadFailure::Unknown))
        }
    }
}

fn consistency(uri: &Uri) -> Result<Consistency, Failure> {
    let asked = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("consistency="));
    match asked {
        None | Some("linearizable") => Ok(Consistency::Linearizable),
        Some("serializable") => Ok(Consistency::Serializable),
        Some(_) => Err(Failure::bad_request("consistency", "linearizable or serializable")),
    }
}

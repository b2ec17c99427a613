//! A streaming `POST /v1/requests`: server-sent events `placed`, then `tokens` as the
//! executing node produces them, then `ended` with the request's record.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use psionic_core::RequestId;
use psionic_core::dispatch::RequestOutcome;
use psionic_core::plan::Placement;
use tokio::sync::oneshot;

use super::ApiState;
use super::requests::RequestTable;
use crate::api::{RequestRecord, RequestStatus, RequestStreamEvent, RequestView};
use crate::runtime::TokenBatches;

/// A streaming request the node took.
pub(super) struct Taken {
    pub request: RequestId,
    pub placement: Option<Placement>,
    pub outcome: oneshot::Receiver<RequestOutcome>,
    pub batches: TokenBatches,
}

/// Where the event stream stands.
enum Stage {
    Placed(Taken),
    Running(Taken),
    Done,
}

/// The events of `taken`, recorded in the API's request table as it goes.
pub(super) fn events(api: &ApiState, taken: Taken) -> Response {
    let record = RequestRecord {
        placement: taken.placement.clone(),
        status: RequestStatus::Running,
    };
    api.requests.insert(taken.request, record);
    let table = api.requests.clone();
    let events = stream::unfold(Stage::Placed(taken), move |stage| next(stage, table.clone()));
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// The next event after `stage`, and the stage after it.
async fn next(stage: Stage, table: RequestTable) -> Option<(Result<Event, Infallible>, Stage)> {
    match stage {
        Stage::Placed(taken) => {
            let placed = RequestStreamEvent::Placed {
                request: taken.request,
                placement: taken.placement.clone().map(Box::new),
            };
            Some((Ok(event(&placed)), Stage::Running(taken)))
        }
        Stage::Running(mut taken) => {
            tokio::select! {
                biased;
                Some(batch) = taken.batches.recv() => {
                    let tokens = RequestStreamEvent::Tokens {
                        node: batch.node,
                        offset: batch.offset,
                        tokens: batch.tokens,
                    };
                    Some((Ok(event(&tokens)), Stage::Running(taken)))
                }
                outcome = &mut taken.outcome => Some((Ok(ended(taken, outcome.ok(), &table)), Stage::Done)),
            }
        }
        Stage::Done => None,
    }
}

/// The `ended` event (tokens that arrived with the outcome are in its record).
fn ended(taken: Taken, outcome: Option<RequestOutcome>, table: &RequestTable) -> Event {
    let status = match outcome {
        Some(outcome) => RequestStatus::Ended { outcome },
        None => RequestStatus::Unknown,
    };
    table.set_status(taken.request, status.clone());
    let record = table.get(taken.request).unwrap_or(RequestRecord {
        placement: taken.placement,
        status,
    });
    let view = RequestView {
        request: taken.request,
        record,
    };
    event(&RequestStreamEvent::Ended(Box::new(view)))
}

fn event(data: &RequestStreamEvent) -> Event {
    let json = serde_json::to_string(data).unwrap_or_default();
    Event::default().event(data.name()).data(json)
}

//! The operator API's vocabulary, shared by the server's handlers, the `psionic-node`
//! CLI and the tests: every route's path, request body and answers.
//!
//! An answer is JSON. Each route's own answers are one type here; the answers any route
//! may give instead (a credential or body refused, a malformed path value, the node
//! stopped) are [`Failure`]. A client reads a body as [`Reply<T>`] of the route's type.

mod commands;
mod failure;
pub mod openai;
mod reports;
mod requests;
mod staging;

#[cfg(not(madsim))]
mod client;
mod events;

#[cfg(not(madsim))]
pub use client::{Answer, Client, ClientError, Streamed};
pub use commands::{
    CapabilitiesAnswer, CapabilitiesFailure, CommandAnswer, KeyRotationAnswer, NotStaged, TransferAnswer, TransferBody,
};
pub use events::{EventError, EventStream};
pub use failure::{AuthRefusal, BodyRefusal, Failure, Reply};
pub use reports::{
    CandidatesAnswer, Listening, MemberView, MembersAnswer, ReadFailure, StateAnswer, StateRead, StatusReport,
};
pub use requests::{
    CancelAnswer, PlanAnswer, RequestAnswer, RequestBody, RequestFailure, RequestRecord, RequestStatus,
    RequestStreamEvent, RequestView,
};
pub use staging::{StageAnswer, StageBody, StageRefusal, stage_path};
#[cfg(not(madsim))]
pub use ureq::http::Method;

/// Open: the node's status.
pub const STATUS: &str = "/v1/status";
/// Open: Prometheus text.
pub const METRICS: &str = "/metrics";
/// Open: the node's signed capabilities.
pub const CAPABILITIES: &str = "/v1/capabilities";
/// Scope `read` off loopback: the replicated state (`?consistency=`).
pub const STATE: &str = "/v1/state";
/// Scope `read` off loopback: the members (`?consistency=`).
pub const MEMBERS: &str = "/v1/members";
/// Scope `read` off loopback: the candidate ledger.
pub const CANDIDATES: &str = "/v1/candidates";
/// Scope `read` off loopback: a dry-run placement.
pub const PLANS: &str = "/v1/plans";
/// Scope `submit-requests`: submit an inference request.
pub const REQUESTS: &str = "/v1/requests";
/// Scope `submit-requests`: an OpenAI-compatible completion.
pub const COMPLETIONS: &str = "/v1/completions";
/// Scope `submit-requests`: an OpenAI-compatible chat completion.
pub const CHAT_COMPLETIONS: &str = "/v1/chat/completions";
/// Scope `operate`: the serving policy.
pub const SERVING_POLICY: &str = "/v1/serving-policy";
/// Scope `operate`: hand leadership over.
pub const LEADERSHIP_TRANSFER: &str = "/v1/leadership/transfer";
/// Scope `admin`: the authorization policy.
pub const AUTHORIZATION: &str = "/v1/authorization";
/// Scope `admin`: stage a new node key.
pub const KEY_ROTATION: &str = "/v1/node/key-rotation";
/// Scope `operate`: stage an artifact (see [`stage_path`]).
pub const STAGE: &str = "/v1/artifacts/{digest}/stage";
/// The scope the command names.
pub const COMMANDS: &str = "/v1/commands";

/// Scope `read` off loopback: one request (`GET`).
pub fn request_path(id: &str) -> String {
    format!("{REQUESTS}/{id}")
}

/// Scope `submit-requests`: cancel one request (`POST`).
pub fn cancel_path(id: &str) -> String {
    format!("{REQUESTS}/{id}/cancel")
}

/// A read of the state or the members with `consistency`.
pub fn with_consistency(path: &str, consistency: crate::Consistency) -> String {
    let name = match consistency {
        crate::Consistency::Linearizable => "linearizable",
        crate::Consistency::Serializable => "serializable",
    };
    format!("{path}?consistency={name}")
}

#[cfg(test)]
mod tests;

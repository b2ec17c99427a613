//! Inference requests: `POST /v1/requests`, `GET /v1/requests/{id}`, `POST
//! /v1/requests/{id}/cancel`, and the dry run `POST /v1/plans`.

use psionic_core::backend::Backend;
use psionic_core::dispatch::{CancelRefusal, RequestLane, RequestOutcome, Sampling, SubmitRefusal};
use psionic_core::plan::{Placement, PlacementHint, PlacementRefusal};
use psionic_core::{NodeId, RequestId};
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// Request id (32 hex digits); a fresh one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The model's artifact digest (64 hex digits).
    pub model: String,
    /// `whole-request` (default) or `replicated`.
    #[serde(default = "whole_request")]
    pub lane: RequestLane,
    /// Acceptable backends, most preferred first (default: cuda, then cpu).
    #[serde(default = "cuda_then_cpu")]
    pub backends: Vec<Backend>,
    /// Device memory needed on one device.
    #[serde(default)]
    pub device_memory_bytes: u64,
    /// The prompt (UTF-8).
    pub prompt: String,
    /// Tokens to produce.
    pub max_tokens: u32,
    /// Priority class.
    #[serde(default)]
    pub class: u8,
    /// Answer once the request ended rather than once it was placed.
    #[serde(default)]
    pub wait: bool,
    /// An outside planner's preference: it may only choose among nodes the planner
    /// ranks equal; the placement's notes say whether it was accepted or ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<PlacementHint>,
    /// Answer with server-sent events ([`RequestStreamEvent`]): `placed`, then
    /// `tokens` as the executor produces them, then `ended` (`wait` is implied).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Sampling temperature, 0 to 10 (absent or 0: greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// The sampling generator's seed (absent: drawn from the request id), so the same
    /// request gives the same tokens anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl RequestBody {
    /// A whole request for `model` (hex digest) with `prompt`, on CUDA or else CPU.
    pub fn new(model: &str, prompt: &str, max_tokens: u32) -> Self {
        Self {
            id: None,
            model: model.to_owned(),
            lane: whole_request(),
            backends: cuda_then_cpu(),
            device_memory_bytes: 0,
            prompt: prompt.to_owned(),
            max_tokens,
            class: 0,
            wait: false,
            hint: None,
            stream: false,
            temperature: None,
            seed: None,
        }
    }

    /// How request `id`'s tokens are chosen: greedy without a temperature (or at 0),
    /// else drawn with `seed` or, absent, a seed taken from the id. `None` for a
    /// temperature that is negative or not a number (one above the highest accepted is
    /// refused by the node, naming the bound).
    pub fn sampling(&self, id: RequestId) -> Option<Sampling> {
        let Some(temperature) = self.temperature else {
            return Some(Sampling::Greedy);
        };
        if !temperature.is_finite() || temperature < 0.0 {
            return None;
        }
        // Saturates at u32::MAX thousandths, far above the bound the node checks.
        let milli = (temperature * 1_000.0).round() as u32;
        let from_id = u64::from_le_bytes(id.0[..8].try_into().expect("a request id has 16 bytes"));
        Some(Sampling::at(milli, self.seed.unwrap_or(from_id)))
    }
}

fn whole_request() -> RequestLane {
    RequestLane::WholeRequest
}

fn cuda_then_cpu() -> Vec<Backend> {
    vec![Backend::Cuda, Backend::Cpu]
}

/// What the answering node knows of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Where it was placed first (none: forwarded, and the leader's answer with its
    /// placement was lost on the way; its outcome came back).
    pub placement: Option<Placement>,
    /// How it stands.
    #[serde(flatten)]
    pub status: RequestStatus,
}

/// How a request stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum RequestStatus {
    /// Placed, not ended yet.
    Running,
    /// It ended.
    Ended {
        /// How.
        outcome: RequestOutcome,
    },
    /// The coordinator stopped before answering.
    Unknown,
}

/// A request and its record: the answer of `POST /v1/requests` (200) and `GET
/// /v1/requests/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestView {
    /// Its id.
    pub request: RequestId,
    /// What is known of it.
    pub record: RequestRecord,
}

/// Why a request was not taken, or is not known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum RequestFailure {
    /// Not taken, for certain (421 not leading, 409 in flight, 503 no placement, 400
    /// a shape refused).
    Refused {
        /// Why.
        refusal: SubmitRefusal,
        /// The reason in words.
        message: String,
        /// The leader, when this node knows one it does not lead for.
        leader: Option<NodeId>,
    },
    /// Perhaps taken: the node stopped, or the leader it was forwarded to did not
    /// answer (503). Ask again under the same id.
    Unknown {
        /// What left it unknown, when it was a refusal that is not certain.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refusal: Option<SubmitRefusal>,
        /// The reason in words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// No request of that id was submitted here (404).
    UnknownRequest,
}

/// `POST /v1/requests` and `GET /v1/requests/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestAnswer {
    /// The request.
    Request(Box<RequestView>),
    /// Not taken, or not known.
    Failed(RequestFailure),
}

/// `POST /v1/plans`: the placement a request of any lane would get now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum PlanAnswer {
    /// Where it would run (200).
    Placed {
        /// The placement.
        placement: Box<Placement>,
    },
    /// It could not be placed (503).
    Refused {
        /// Why.
        refusal: PlacementRefusal,
        /// The reason in words.
        message: String,
    },
    /// The node stopped first (503).
    Unknown,
}

/// `POST /v1/requests/{id}/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum CancelAnswer {
    /// Ended, and stopped on its executing node (200).
    Cancelled,
    /// Not cancelled (421 not leading, 404 not in flight).
    Refused {
        /// Why.
        refusal: CancelRefusal,
        /// The reason in words.
        message: String,
    },
    /// The node stopped first (503).
    Unknown,
}

/// One server-sent event of a streaming `POST /v1/requests` (its `data`, JSON; the
/// event's name is its `event`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum RequestStreamEvent {
    /// Taken: where it runs first (none: forwarded, and the leader's answer with its
    /// placement was lost on the way).
    Placed {
        /// The request.
        request: RequestId,
        /// Where it runs first.
        placement: Option<Box<Placement>>,
    },
    /// Tokens as the executing node produced them, the first of them number
    /// `offset`. A batch lost on the way leaves a gap, and a rerouted request's next
    /// run starts again at offset 0 on another `node`: what `ended` carries is the
    /// answer.
    Tokens {
        /// The executing node that produced them.
        node: NodeId,
        /// The number of the first token.
        offset: u32,
        /// The tokens.
        tokens: Vec<psionic_core::dispatch::Token>,
    },
    /// How it ended: the request's record, as `GET /v1/requests/{id}` answers it.
    Ended(Box<RequestView>),
}

impl RequestStreamEvent {
    /// The event's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            RequestStreamEvent::Placed { .. } => "placed",
            RequestStreamEvent::Tokens { .. } => "tokens",
            RequestStreamEvent::Ended(_) => "ended",
        }
    }
}

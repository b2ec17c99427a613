//! Dispatch's vocabulary: the requests clients submit, the assignments coordinators
//! send, what executors report, and every way a request can be refused. The protocol
//! that moves them lives in [`crate::serving`].

mod model_refusal;
mod sampling;

pub use crate::token::{Sampling, TEMPERATURE_MILLI_MAX};
pub use model_refusal::{MODEL_REASON_BYTES_MAX, ModelRefusal};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::consensus::Fence;
use crate::digest::Digest;
use crate::identity::{NodeId, RequestId};
use crate::plan::{
    ExecutionTopologyPlan, LayerShardedRequest, PlacementHint, PlacementRefusal, QueueRefusal, RequestNeeds,
    SignedEvidence, TensorShardedRequest,
};
use crate::state::Residency;

pub use crate::limits::PROMPT_BYTES_MAX;

pub use crate::token::{Token, output_digest};
/// Most tokens one request may ask for.
pub const MAX_TOKENS_MAX: u32 = 4096;

/// A placement to compute without dispatching anything (any lane).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanRequest {
    /// One node.
    WholeRequest(RequestNeeds),
    /// One warm replica.
    Replicated(RequestNeeds),
    /// Pipeline stages.
    LayerSharded(LayerShardedRequest),
    /// Tensor shards.
    TensorSharded(TensorShardedRequest),
}

/// The lanes a request can be dispatched on (sharded lanes are planned, not run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestLane {
    /// One node, the best for the request.
    WholeRequest,
    /// One warm replica of the model's replica set.
    Replicated,
}

/// An inference request as a client submits it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferenceRequest {
    /// Its id, chosen by the client: it runs at most once.
    pub id: RequestId,
    /// The lane.
    pub lane: RequestLane,
    /// What it needs of the node.
    pub needs: RequestNeeds,
    /// The prompt.
    #[serde(with = "serde_bytes")]
    pub prompt: Vec<u8>,
    /// Tokens to produce.
    pub max_tokens: u32,
    /// Priority class.
    pub class: u8,
    /// An outside planner's preference among equally good nodes (whole-request lane).
    pub hint: Option<PlacementHint>,
    /// Whether its tokens travel to the node that took it as the executor produces
    /// them ([`crate::serving::ServingEvent::TokensProduced`]), not only in its outcome.
    pub stream: bool,
    /// How its tokens are chosen.
    pub sampling: Sampling,
}

/// What the coordinator sends the executing node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The request.
    pub request: RequestId,
    /// The plan.
    pub plan: ExecutionTopologyPlan,
    /// Its digest.
    pub plan_digest: Digest,
    /// The prompt.
    #[serde(with = "serde_bytes")]
    pub prompt: Vec<u8>,
    /// Tokens to produce.
    pub max_tokens: u32,
    /// Priority class.
    pub class: u8,
    /// Whether the executing node reports tokens as it produces them.
    pub stream: bool,
    /// How its tokens are chosen.
    pub sampling: Sampling,
}

/// Why an executing node refused an assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum AssignmentRefusal {
    /// Its fence is older than one the node has seen.
    #[error("stale fence {got:?}; seen {seen:?}")]
    StaleFence {
        /// Newest fence seen.
        seen: Fence,
        /// The assignment's.
        got: Fence,
    },
    /// The plan digest does not match the plan (an unknown plan).
    #[error("plan digest {claimed} does not match the plan ({computed})")]
    PlanDigest {
        /// Claimed.
        claimed: Digest,
        /// Computed.
        computed: Digest,
    },
    /// The plan does not select this node.
    #[error("the plan selects {selected:?}, not this node")]
    NotSelected {
        /// The nodes it selects.
        selected: Vec<NodeId>,
    },
    /// The plan's backend is not ready here.
    #[error("backend {backend:?} is not ready on this node")]
    BackendNotReady {
        /// The backend.
        backend: Backend,
    },
    /// The plan's device is not among this node's ready devices.
    #[error("device {ordinal} of {backend:?} is not ready on this node")]
    NoDevice {
        /// The backend.
        backend: Backend,
        /// The device.
        ordinal: u32,
    },
    /// The model is not resident here, as this node applied it.
    #[error("the artifact is not resident here ({residency:?})")]
    ArtifactNotResident {
        /// What this node's state records.
        residency: Option<Residency>,
    },
}

/// A request whose prompt or token count no executor accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum ShapeRefusal {
    /// The prompt is empty or too long.
    #[error("prompt of {len} bytes; 1 to {max} accepted")]
    Prompt {
        /// Its length.
        len: usize,
        /// Most accepted.
        max: usize,
    },
    /// Too many tokens asked for.
    #[error("{asked} tokens asked for; at most {max}")]
    MaxTokens {
        /// Asked.
        asked: u32,
        /// Most accepted.
        max: u32,
    },
    /// The temperature is above the highest accepted.
    #[error("temperature {given_milli}/1000; at most {max_milli}/1000")]
    Temperature {
        /// Given, in thousandths.
        given_milli: u32,
        /// Highest accepted, in thousandths.
        max_milli: u32,
    },
}

impl ShapeRefusal {
    /// Checks a prompt of `prompt_len` bytes asking for `max_tokens` tokens against
    /// [`PROMPT_BYTES_MAX`] and [`MAX_TOKENS_MAX`].
    pub fn check(prompt_len: usize, max_tokens: u32) -> Result<(), ShapeRefusal> {
        if prompt_len == 0 || prompt_len > PROMPT_BYTES_MAX {
            return Err(ShapeRefusal::Prompt {
                len: prompt_len,
                max: PROMPT_BYTES_MAX,
            });
        }
        if max_tokens > MAX_TOKENS_MAX {
            return Err(ShapeRefusal::MaxTokens {
                asked: max_tokens,
                max: MAX_TOKENS_MAX,
            });
        }
        Ok(())
    }
}

/// Why an executor could not run a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionError {
    /// It does not run the backend asked for.
    #[error("this executor does not run backend {backend:?}")]
    Backend {
        /// The backend.
        backend: Backend,
    },
    /// The prompt or token count is out of bounds.
    #[error(transparent)]
    Shape(#[from] ShapeRefusal),
    /// The node's queue would not take it.
    #[error(transparent)]
    Queue(#[from] QueueRefusal),
    /// It was cancelled after producing `tokens`.
    #[error("cancelled after {tokens} tokens")]
    Cancelled {
        /// Tokens produced.
        tokens: u32,
    },
    /// The model could not run it.
    #[error(transparent)]
    Model(#[from] ModelRefusal),
}

/// What an executing node tells the coordinator about an assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionReport {
    /// It ran to the end.
    Completed {
        /// The tokens.
        tokens: Vec<Token>,
        /// SHA-256 (output domain) over them.
        result_digest: Digest,
    },
    /// It ran to the end under an earlier coordinator, which may never have heard:
    /// sent again to each new leader, so that a resubmission is answered with this
    /// result rather than run a second time.
    CompletedEarlier {
        /// The tokens.
        tokens: Vec<Token>,
        /// SHA-256 (output domain) over them.
        result_digest: Digest,
        /// The plan it ran under.
        plan: Box<ExecutionTopologyPlan>,
    },
    /// The node refused the assignment before running it.
    Refused(AssignmentRefusal),
    /// The executor could not run it.
    Failed(ExecutionError),
}

/// Why a request finished without a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum RequestRefusal {
    /// No placement (first or after a reroute).
    #[error(transparent)]
    Placement(#[from] PlacementRefusal),
    /// The executor failed it for a reason another node would share.
    #[error("the executor failed it: {0}")]
    Execution(ExecutionError),
    /// The coordinator lost leadership while it was in flight: submit it again to
    /// the new leader (its id keeps it from running twice on one node).
    #[error("the coordinator lost leadership; submit again to the new leader")]
    CoordinatorDeposed,
    /// Its client cancelled it; the executing node was told to stop.
    #[error("cancelled by its client")]
    Cancelled,
    /// Its node fell silent for the serving policy's `lost_wait_ms` and the policy
    /// does not run lost requests again (`reroute_lost` off): it ran at most once, on
    /// that node, perhaps to the end. Submit it under a new id to run it again.
    #[error("its node {node} fell silent; not run again")]
    ExecutorLost {
        /// The silent node.
        node: NodeId,
    },
}

/// How a request ended, as the coordinator reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestOutcome {
    /// A node ran it.
    Completed {
        /// The node.
        node: NodeId,
        /// The tokens.
        tokens: Vec<Token>,
        /// Signed execution evidence.
        evidence: Box<SignedEvidence>,
    },
    /// It ended without a result.
    Refused {
        /// Why.
        refusal: RequestRefusal,
    },
}

/// Why a cancellation was not carried out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum CancelRefusal {
    /// This node does not lead.
    #[error("not the leader; try {leader_hint:?}")]
    NotLeader {
        /// The leader, if known.
        leader_hint: Option<NodeId>,
    },
    /// This coordinator holds no such request in flight (never submitted here, or
    /// ended already).
    #[error("request {request} is not in flight here")]
    NotInFlight {
        /// The request.
        request: RequestId,
    },
}

impl SubmitRefusal {
    /// Whether the request certainly was not placed. When not (forwarded to a leader
    /// that did not answer in time), it may be running: submit it again under the same
    /// id to learn its outcome.
    pub fn is_certain(&self) -> bool {
        !matches!(self, SubmitRefusal::ForwardUnanswered { .. })
    }
}

/// Why a request was not accepted for dispatch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum SubmitRefusal {
    /// This node does not lead.
    #[error("not the leader; try {leader_hint:?}")]
    NotLeader {
        /// The leader, if known.
        leader_hint: Option<NodeId>,
    },
    /// The id is in flight already.
    #[error("request {request} is in flight already")]
    InFlight {
        /// The request.
        request: RequestId,
    },
    /// The prompt or token count is out of bounds.
    #[error(transparent)]
    Shape(#[from] ShapeRefusal),
    /// No backend listed.
    #[error("no acceptable backend listed")]
    NoBackend,
    /// No node can take it.
    #[error(transparent)]
    Placement(#[from] PlacementRefusal),
    /// Forwarded to `leader`, which did not answer before another leader took over:
    /// submit it again (its id keeps it from running twice on one node).
    #[error("forwarded to {leader}, which did not answer before another leader took over")]
    ForwardUnanswered {
        /// The leader it went to.
        leader: NodeId,
    },
    /// The leader has been silent too long to forward to.
    #[error(transparent)]
    LeaderSilent(crate::consensus::forward::LeaderSilence),
    /// This node has `pending` forwarded requests that have not ended; at most `max`.
    #[error("{pending} forwarded requests have not ended; at most {max}")]
    TooManyForwarded {
        /// Forwarded and not ended.
        pending: usize,
        /// [`crate::serving::FORWARDED_REQUESTS_MAX`].
        max: usize,
    },
}

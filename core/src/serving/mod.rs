//! Serving: both sides of dispatch, driven by [`crate::Node`] like consensus is.
//!
//! The coordinator side (the leader) places each request, sends its assignment stamped
//! with the leadership's authority, follows it to a report, reroutes it, and signs the
//! evidence of its completion. The executing side checks an assignment against its own
//! facts and hands it to the driver as a [`Job`] ([`crate::Output::RunJob`]); the
//! driver hands the outcome back ([`crate::Node::execution_ended`]). Consensus admits a
//! decision's authority (its fence and sender) before serving sees it; serving reads
//! consensus and never changes it.
//!
//! Invariants:
//! - an assignment runs only on a node that accepted its fence as the newest it has
//!   seen and found the plan's digest, its own selection, backend, device and residency
//!   as the plan says;
//! - a request runs at most once on a node: an assignment of a request already running
//!   there re-addresses its report to the newer coordinator, and one completed there is
//!   answered with the kept result;
//! - a run's outcome is reported once, to the newest coordinator that assigned it; a
//!   run issued under a fence older than the node's term is stopped
//!   ([`crate::Output::StopJob`]);
//! - each kept completion is told once to every new leader, so a coordinator deposed
//!   before it heard does not make the request run again;
//! - a request id is in flight at most once per coordinator, and leaves its node only
//!   for a typed reason; a deposed coordinator ends every request it held as
//!   `coordinator-deposed`, so none is left waiting.

mod assignments;
mod coordinator;
mod event;
mod executor;
mod facts;
mod forward;
mod kept;
mod message;
mod refusal;
mod view;

pub use crate::dispatch::PlanRequest;
pub use event::ServingEvent;
pub use executor::COMPLETED_KEPT_MAX;
pub use forward::{FORWARDED_REQUESTS_MAX, Submitted};
pub use message::{Decision, DispatchMessage, StampedDecision};
pub use refusal::ServingRefusal;
pub use view::ClusterView;

pub(crate) use coordinator::{ReportFrom, StreamedTokens};

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::digest::Digest;
use crate::identity::{NodeId, NodeIdentity, RequestId};

/// One run the node's driver carries out on its executor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The request: it runs at most once per node.
    pub request: RequestId,
    /// The model.
    pub artifact: Digest,
    /// The backend the plan chose.
    pub backend: Backend,
    /// The device the plan chose.
    pub device: Option<u32>,
    /// The prompt.
    #[serde(with = "serde_bytes")]
    pub prompt: Vec<u8>,
    /// Tokens to produce.
    pub max_tokens: u32,
    /// Priority class.
    pub class: u8,
    /// Whether the driver hands back tokens as they are produced
    /// ([`crate::Node::execution_progress`]).
    pub stream: bool,
    /// How its tokens are chosen.
    pub sampling: crate::dispatch::Sampling,
}

/// What serving asks of its node, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ServingEffect {
    /// Deliver `message` to `to` (handled by the node itself when `to` is this node).
    Send {
        /// The receiving node.
        to: NodeId,
        /// What to deliver.
        message: DispatchMessage,
    },
    /// Report to the application.
    Event(ServingEvent),
    /// Run a job on this node's executor.
    RunJob(Job),
    /// Stop the job of a request.
    StopJob(RequestId),
    /// A message was refused.
    Refuse(ServingRefusal),
}

/// One node's serving state: its coordinator side, its executing side, and the key
/// that signs its evidence.
#[derive(Debug)]
pub struct Serving {
    signer: NodeIdentity,
    coordinator: coordinator::Coordinator,
    executor: executor::ExecutorBook,
    /// Requests submitted here and forwarded to a leader, until they end here.
    forwarded_requests: std::collections::BTreeMap<RequestId, forward::ForwardedRequest>,
    /// The queue depth last given to the device book as telemetry (it starts at 0).
    reported_depth: u32,
    pub(crate) effects: Vec<ServingEffect>,
}

impl Serving {
    /// Serving of a node that signs its evidence as `signer`.
    pub fn new(signer: NodeIdentity) -> Self {
        Self {
            signer,
            coordinator: coordinator::Coordinator::default(),
            executor: executor::ExecutorBook::default(),
            forwarded_requests: std::collections::BTreeMap::new(),
            reported_depth: 0,
            effects: Vec::new(),
        }
    }

    /// Signs evidence as `signer` from now on: the node's key rotated.
    pub(crate) fn set_signer(&mut self, signer: NodeIdentity) {
        self.signer = signer;
    }

    /// Requests this node coordinates, with the node running each.
    pub fn in_flight(&self) -> impl Iterator<Item = (RequestId, NodeId)> + '_ {
        self.coordinator.in_flight()
    }

    /// Runs in progress on this node.
    pub fn running(&self) -> u32 {
        self.executor.depth()
    }

    /// The queue depth to report as telemetry, when it moved since last taken.
    pub(crate) fn take_depth_change(&mut self) -> Option<u32> {
        let depth = self.executor.depth();
        (depth != self.reported_depth).then(|| {
            self.reported_depth = depth;
            depth
        })
    }

    fn send(&mut self, to: NodeId, message: DispatchMessage) {
        self.effects.push(ServingEffect::Send { to, message });
    }

    fn event(&mut self, event: ServingEvent) {
        self.effects.push(ServingEffect::Event(event));
    }
}

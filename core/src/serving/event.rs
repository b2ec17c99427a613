//! What serving reports to the node's driver.

use crate::dispatch::Token;
use serde::{Deserialize, Serialize};

use super::Decision;
use crate::consensus::Authority;
use crate::dispatch::{RequestOutcome, SubmitRefusal};
use crate::identity::{NodeId, RequestId};
use crate::plan::{Placement, RerouteReason};

/// What serving observed, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ServingEvent {
    /// A stamped decision from the current leadership was accepted (an assignment
    /// also passed this node's checks: the driver runs it and reports the outcome).
    DecisionAccepted {
        /// Its authority.
        authority: Authority,
        /// The decision.
        decision: Decision,
    },
    /// Leader: a request left the node it was assigned to and was placed again (or
    /// refused, reported by [`ServingEvent::RequestFinished`]).
    RequestRerouted {
        /// The request.
        request: RequestId,
        /// The node it left.
        from: NodeId,
        /// Why.
        reason: RerouteReason,
    },
    /// Executing node: an assignment ended here and was reported to its coordinator.
    ExecutionEnded {
        /// The request.
        request: RequestId,
        /// The coordinator it was reported to.
        coordinator: NodeId,
        /// Whether it ran to completion (else it was refused, failed or cancelled).
        completed: bool,
    },
    /// A request this node forwarded to its leader was placed there.
    RequestPlaced {
        /// The request.
        request: RequestId,
        /// Where.
        placement: Box<Placement>,
    },
    /// A request this node forwarded to its leader was not taken.
    RequestSubmitRefused {
        /// The request.
        request: RequestId,
        /// Why.
        refusal: SubmitRefusal,
    },
    /// Leader (or the node that forwarded it): a request ended.
    RequestFinished {
        /// The request.
        request: RequestId,
        /// How.
        outcome: RequestOutcome,
    },
    /// Tokens of a streaming request, as its executing node produced them: on the
    /// node that took the request (the leader, or the member that forwarded it).
    TokensProduced {
        /// The request.
        request: RequestId,
        /// The executing node that produced them (a rerouted request's next run starts
        /// again at offset 0, on another node).
        node: NodeId,
        /// The number of the first token.
        offset: u32,
        /// The tokens.
        tokens: Vec<Token>,
    },
}

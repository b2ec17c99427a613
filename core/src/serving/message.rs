//! What dispatch sends between nodes: decisions stamped with a leadership's authority,
//! and executing nodes' reports on them.

use crate::dispatch::Token;
use serde::{Deserialize, Serialize};

use crate::consensus::message::ValueFault;
use crate::consensus::{Authority, AuthorityProblem, Fence};
use crate::digest::Digest;
use crate::dispatch::{Assignment, ExecutionReport, InferenceRequest, RequestOutcome, SubmitRefusal};
use crate::identity::{ClusterId, NodeId, RequestId};
use crate::plan::Placement;

/// What a coordinator decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// An opaque directive, identified by `id`.
    Directive {
        /// Directive id.
        id: u64,
        /// Its body.
        body: Vec<u8>,
    },
    /// Run a request as planned.
    Assign(Box<Assignment>),
    /// Stop running a request (its client cancelled it).
    Cancel {
        /// The request.
        request: RequestId,
    },
}

/// A decision with its authority and the authority's digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StampedDecision {
    /// Authority it was issued under.
    pub authority: Authority,
    /// Digest of `authority`.
    pub authority_digest: Digest,
    /// The decision.
    pub decision: Decision,
}

impl StampedDecision {
    /// `decision` stamped with `authority`.
    pub fn new(authority: Authority, decision: Decision) -> Self {
        Self {
            authority,
            authority_digest: authority.digest(),
            decision,
        }
    }

    /// What its authority gets wrong for a decision from `sender` in `cluster_id`, if
    /// anything.
    pub fn authority_problem(&self, sender: NodeId, cluster_id: ClusterId) -> Option<AuthorityProblem> {
        self.authority.problem(self.authority_digest, sender, cluster_id)
    }
}

/// A dispatch message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DispatchMessage {
    /// A decision stamped with the issuing coordinator's authority.
    Decision(StampedDecision),
    /// An executing node's report on an assignment, to the coordinator that issued it.
    Execution {
        /// The request.
        request: RequestId,
        /// The fence the assignment carried.
        fence: Fence,
        /// What happened.
        report: ExecutionReport,
    },
    /// A request a client submitted to a node that does not lead, forwarded to the
    /// leader it follows.
    Submit(Box<InferenceRequest>),
    /// The leader's answer to a forwarded request: where it was placed.
    Placed {
        /// The request.
        request: RequestId,
        /// Its placement.
        placement: Box<Placement>,
    },
    /// The leader's answer to a forwarded request: it was not taken.
    SubmitRefused {
        /// The request.
        request: RequestId,
        /// Why.
        refusal: SubmitRefusal,
    },
    /// How a forwarded request ended, sent to the node that forwarded it.
    Finished {
        /// The request.
        request: RequestId,
        /// How it ended.
        outcome: Box<RequestOutcome>,
    },
    /// Executing node to the coordinator that assigned a streaming request under
    /// `fence`: tokens as they were produced, the first of them number `offset`.
    Tokens {
        /// The request.
        request: RequestId,
        /// The fence of the assignment.
        fence: Fence,
        /// The number of the first token (tokens before it were sent already).
        offset: u32,
        /// The tokens.
        tokens: Vec<Token>,
    },
    /// Leader to the node that forwarded a streaming request: its tokens as the
    /// executing node reported them.
    Streamed {
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
    /// A member to its leader, of a request it forwarded and saw placed but has heard
    /// nothing of for [`crate::limits::FORWARD_ANSWER_WITHIN_MS`]: how did it end?
    /// The leader answers with `Finished` once it ended (`coordinator-deposed` when it
    /// does not know it); nothing while it runs, nor when it does not lead.
    FollowUp {
        /// The request.
        request: RequestId,
    },
}

impl DispatchMessage {
    /// Checks values no honest sender produces: terms, fences and indexes that would
    /// overflow.
    pub fn check_values(&self) -> Result<(), ValueFault> {
        match self {
            DispatchMessage::Decision(stamped) => stamped.authority.check_values(),
            DispatchMessage::Execution { fence, .. } => fence.check_value(),
            DispatchMessage::Finished { outcome, .. } => match &**outcome {
                RequestOutcome::Completed { evidence, .. } => evidence.context.authority.check_values(),
                RequestOutcome::Refused { .. } => Ok(()),
            },
            DispatchMessage::Tokens {
                fence, offset, tokens, ..
            } => {
                fence.check_value()?;
                check_token_range(*offset, tokens)
            }
            DispatchMessage::Streamed { offset, tokens, .. } => check_token_range(*offset, tokens),
            DispatchMessage::Submit(_)
            | DispatchMessage::Placed { .. }
            | DispatchMessage::SubmitRefused { .. }
            | DispatchMessage::FollowUp { .. } => Ok(()),
        }
    }
}

/// Streamed tokens lie within the most a request may ask for.
fn check_token_range(offset: u32, tokens: &[Token]) -> Result<(), ValueFault> {
    let end = u64::from(offset).saturating_add(tokens.len() as u64);
    if end > u64::from(crate::dispatch::MAX_TOKENS_MAX) {
        return Err(ValueFault::TokensBeyondMax {
            end,
            max: crate::dispatch::MAX_TOKENS_MAX,
        });
    }
    Ok(())
}

//! Routes that change the cluster: `POST /v1/commands` (and the policy routes answered
//! as it is), `POST /v1/leadership/transfer`, `POST /v1/node/key-rotation`; and `GET
//! /v1/capabilities`.

use psionic_core::ClusterCommand;
use psionic_core::NodeId;
use psionic_core::consensus::{ProposalRejection, TransferRefusal};
use psionic_core::state::{ApplyRefusal, RotationProblem};
use serde::{Deserialize, Serialize};

use crate::capabilities::SignedCapabilities;

/// `POST /v1/commands`, `PUT /v1/serving-policy`, `PUT /v1/authorization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum CommandAnswer {
    /// Committed and applied on the answering node at `index` (200).
    Committed {
        /// Its log index.
        index: u64,
        /// Its proposal id, `node/epoch/seq`.
        proposal: String,
    },
    /// Committed at `index`, but applying it changed nothing: `refusal` says why (409).
    Refused {
        /// Its log index.
        index: u64,
        /// Its proposal id, `node/epoch/seq`.
        proposal: String,
        /// Why applying it changed nothing.
        refusal: ApplyRefusal,
        /// The reason in words.
        message: String,
    },
    /// No leader is known to forward it to (421); `leader` is one the node heard of.
    NotLeader {
        /// The leader, if known.
        leader: Option<NodeId>,
    },
    /// It will not be committed: `reason` says why.
    Rejected {
        /// Why.
        reason: ProposalRejection,
        /// The reason in words.
        message: String,
    },
    /// The outcome is unknown (the node stopped first, the index arrived inside a
    /// snapshot, or the leader it was forwarded to did not answer): read the state to
    /// find out (503).
    Unknown,
}

/// The body of `POST /v1/leadership/transfer`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// The voter to hand over to (32 hex digits); none: the most up to date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `POST /v1/leadership/transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum TransferAnswer {
    /// The target is being brought up to date and told to stand (200).
    Transferring {
        /// The target.
        to: NodeId,
    },
    /// Not started (421 not leading, 422 not a voter, 409 no other voter or one in
    /// progress).
    Refused {
        /// Why.
        refusal: TransferRefusal,
        /// The reason in words.
        message: String,
    },
    /// The node stopped first (503).
    Unknown,
}

/// Why `POST /v1/node/key-rotation` made no record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum NotStaged {
    /// The node cannot sign a record (it has not received its cluster's state) (409).
    Refused {
        /// Why.
        refusal: RotationProblem,
        /// The reason in words.
        message: String,
    },
    /// The identity file could not keep the new key: nothing was staged (500).
    NotKept {
        /// What went wrong.
        message: String,
    },
}

/// `POST /v1/node/key-rotation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyRotationAnswer {
    /// The command that rotates the node's key, to commit through the leader (200).
    Staged(Box<ClusterCommand>),
    /// No record made.
    NotStaged(NotStaged),
}

/// Why `GET /v1/capabilities` published nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum CapabilitiesFailure {
    /// The node publishes no capabilities (404).
    NotPublished,
    /// Its identity file could not be read to sign them (500).
    NoIdentity {
        /// What went wrong.
        message: String,
    },
}

/// `GET /v1/capabilities`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CapabilitiesAnswer {
    /// The capabilities, signed by the node (200).
    Signed(Box<SignedCapabilities>),
    /// Nothing published.
    NotPublished(CapabilitiesFailure),
}

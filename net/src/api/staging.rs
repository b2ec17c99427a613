//! `POST /v1/artifacts/{digest}/stage`: asks a node to copy an artifact from a member
//! that holds it.

use psionic_core::{Digest, NodeId};
use serde::{Deserialize, Serialize};

use super::CommandAnswer;

/// The body of a stage request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageBody {
    /// The node to copy to (its id, 32 hex digits).
    pub node: String,
}

/// Why a stage request was refused before anything was proposed (409).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum StageRefusal {
    /// No member other than the target holds the artifact resident.
    #[error("no member other than {node} holds {artifact} resident")]
    NoHolder {
        /// The artifact.
        artifact: Digest,
        /// The node asked to copy it.
        node: NodeId,
    },
    /// The target holds it already.
    #[error("{node} holds {artifact} resident already")]
    AlreadyResident {
        /// The artifact.
        artifact: Digest,
        /// The node.
        node: NodeId,
    },
    /// The target is not a member.
    #[error("{node} is not a member")]
    NotAMember {
        /// The node.
        node: NodeId,
    },
}

/// The answer of a stage request: the intent's commit (as `POST /v1/commands`
/// answers), or why none was proposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StageAnswer {
    /// The intent was proposed.
    Command(CommandAnswer),
    /// It was not.
    Refused {
        /// Why.
        #[serde(flatten)]
        refusal: StageRefusal,
        /// Why, in words.
        message: String,
    },
}

/// Scope `operate`: stage `artifact` (`POST`, body [`StageBody`]).
pub fn stage_path(artifact: &Digest) -> String {
    format!("/v1/artifacts/{artifact}/stage")
}

//! Why serving refused a dispatch message, with the values it compared.

use serde::{Deserialize, Serialize};

use crate::consensus::ConsensusRefusal;
use crate::identity::{NodeId, RequestId};

/// Why serving refused a dispatch message: its own rule, or one consensus checks for it
/// (fence, sender, membership).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum ServingRefusal {
    /// An execution report from another node than the one the request is assigned to
    /// (or, for a completion under an earlier leadership, from a node that does not
    /// execute).
    #[error("execution report for {request:?} from {sender:?} refused: assigned to {assignee:?}")]
    NotTheAssignee {
        /// Sender.
        sender: NodeId,
        /// The request.
        request: RequestId,
        /// The node it is assigned to here, if any.
        assignee: Option<NodeId>,
    },
    /// A rule consensus checks for serving.
    #[serde(untagged)]
    #[error(transparent)]
    Consensus(ConsensusRefusal),
}

impl From<ConsensusRefusal> for ServingRefusal {
    fn from(refusal: ConsensusRefusal) -> Self {
        Self::Consensus(refusal)
    }
}

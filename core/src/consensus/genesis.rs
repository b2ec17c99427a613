//! Genesis as replicated history: where a node's first state comes from, and refusing
//! nodes of another genesis.

use super::ConsensusRefusal;
use super::{ConsensusConfig, SnapshotFault, StoredSnapshot};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::state::ClusterState;

impl super::Consensus {
    /// Refuses a message from a node of another genesis (`theirs`). A node with no
    /// genesis yet takes its cluster's; a message that names none (a joining node's
    /// answer) is of no genesis to compare.
    pub(crate) fn same_genesis(&self, sender: NodeId, theirs: Option<Digest>) -> Result<(), ConsensusRefusal> {
        match (self.state.genesis, theirs) {
            (Some(ours), Some(theirs)) if ours != theirs => {
                Err(ConsensusRefusal::GenesisMismatch { sender, ours, theirs })
            }
            _ => Ok(()),
        }
    }
}

/// The state a node starts from: its recorded snapshot (checked against the configured
/// genesis voters, if any), else the genesis of the configured voters (returned a
/// third time: it must be made durable), else none yet (a joining node takes its
/// cluster's state from the leader).
#[allow(clippy::type_complexity)]
pub(super) fn recover_state(
    config: &ConsensusConfig,
    recorded: Option<StoredSnapshot>,
) -> Result<(ClusterState, Option<StoredSnapshot>, Option<StoredSnapshot>), RecoveryError> {
    let configured = (!config.initial_voters.is_empty()).then(|| ClusterState::genesis_digest(&config.initial_voters));
    match (recorded, configured) {
        (Some(snapshot), configured) => {
            let state = snapshot.verify().map_err(|fault| RecoveryError::Snapshot { fault })?;
            match configured {
                Some(configured) if Some(configured) != state.genesis => Err(RecoveryError::GenesisMismatch {
                    configured,
                    recorded: state.genesis,
                }),
                _ => Ok((state, Some(snapshot), None)),
            }
        }
        (None, Some(_)) => {
            let state = ClusterState::genesis(&config.initial_voters);
            let genesis = StoredSnapshot::of(&state);
            Ok((state, Some(genesis.clone()), Some(genesis)))
        }
        (None, None) => Ok((ClusterState::default(), None, None)),
    }
}

/// Why this node's recorded consensus data cannot be recovered under its configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// The recovered snapshot does not verify.
    #[error("recovered snapshot is corrupt: {fault}")]
    Snapshot {
        /// What is wrong with it.
        fault: SnapshotFault,
    },
    /// The configured genesis voters are not those of the cluster this node's data
    /// records (its state came from them, or from its cluster's leader).
    #[error(
        "consensus.initial_voters give genesis {configured}, but this node's data records genesis {recorded:?}: list the voters the cluster was founded with, or none"
    )]
    GenesisMismatch {
        /// Digest of the configured voters.
        configured: Digest,
        /// Digest recorded in the data directory.
        recorded: Option<Digest>,
    },
}

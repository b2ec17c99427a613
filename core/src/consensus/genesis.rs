//! Genesis as replicated history: where a node's first state comes from, and refusing
//! nodes of another genesis.

use super::{ConsensusConfig, StoredSnapshot};
use crate::config::ConfigError;
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::refusal::Refusal;
use crate::state::ClusterState;

impl super::Consensus {
    /// Refuses a message from a node of another genesis (`theirs`). A node with no
    /// genesis yet takes its cluster's; a message that names none (a joining node's
    /// answer) is of no genesis to compare.
    pub(crate) fn same_genesis(&self, sender: NodeId, theirs: Option<Digest>) -> Result<(), Refusal> {
        match (self.state.genesis, theirs) {
            (Some(ours), Some(theirs)) if ours != theirs => Err(Refusal::GenesisMismatch { sender, ours, theirs }),
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
) -> Result<(ClusterState, Option<StoredSnapshot>, Option<StoredSnapshot>), ConfigError> {
    let configured = (!config.initial_voters.is_empty()).then(|| ClusterState::genesis_digest(&config.initial_voters));
    match (recorded, configured) {
        (Some(snapshot), configured) => {
            let state = snapshot.verify().map_err(|fault| ConfigError::Snapshot { fault })?;
            match configured {
                Some(configured) if Some(configured) != state.genesis => Err(ConfigError::GenesisMismatch {
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

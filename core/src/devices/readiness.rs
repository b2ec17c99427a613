//! Backend readiness into the log: the leader proposes `SetBackendReadiness` for a
//! member whose claim differs from the record (the committed state patched by entries
//! not yet applied), so one change is proposed once.

use std::collections::BTreeMap;

use super::Devices;
use crate::backend::{Backend, BackendReadiness, DEVICES_PER_BACKEND_MAX};
use crate::consensus::Consensus;
use crate::identity::NodeId;
use crate::state::{ClusterCommand, EntryPayload, Origin};

impl Devices {
    /// Leader: the readiness changes to propose now, its own included (none while
    /// `raft` does not lead).
    pub(crate) fn readiness_due(&self, raft: &Consensus) -> Vec<(Origin, ClusterCommand)> {
        if !raft.is_leader() {
            return Vec::new();
        }
        let mut claims = self.claims.clone();
        if !self.local.readiness.is_empty() {
            claims.insert(self.id, self.local.readiness.clone());
        }
        let recorded = recorded_readiness(raft);
        let members = raft.effective_members();
        let mut commands = Vec::new();
        for (node, claim) in claims.into_iter().filter(|(node, _)| members.contains_key(node)) {
            let claim = claim
                .into_iter()
                .map(|(backend, readiness)| (backend, readiness.for_cluster(backend)));
            for (backend, readiness) in claim.filter(|(_, readiness)| within_limits(readiness)) {
                if recorded.get(&(node, backend)) != Some(&readiness) {
                    let report = ClusterCommand::SetBackendReadiness {
                        node,
                        backend,
                        readiness,
                    };
                    commands.push((Origin::Member { node }, report));
                }
            }
        }
        commands
    }
}

/// Readiness by (node, backend) after every entry in `raft`'s log, applied or not.
fn recorded_readiness(raft: &Consensus) -> BTreeMap<(NodeId, Backend), BackendReadiness> {
    let state = raft.state();
    let mut recorded: BTreeMap<(NodeId, Backend), BackendReadiness> = state
        .backends
        .iter()
        .flat_map(|(node, backends)| {
            backends
                .iter()
                .map(move |(backend, readiness)| ((*node, *backend), readiness.clone()))
        })
        .collect();
    let log = raft.log();
    for index in state.applied_index + 1..=log.last_index() {
        if let Some(EntryPayload::Proposal(proposal)) = log.get(index).map(|entry| &*entry.payload)
            && let ClusterCommand::SetBackendReadiness {
                node,
                backend,
                readiness,
            } = &*proposal.command
        {
            recorded.insert((*node, *backend), readiness.clone());
        }
    }
    recorded
}

/// A claim the state would refuse is never proposed (it would be proposed again on
/// every heartbeat).
fn within_limits(readiness: &BackendReadiness) -> bool {
    match readiness {
        BackendReadiness::Ready { devices, .. } => devices.len() <= DEVICES_PER_BACKEND_MAX,
        BackendReadiness::Refused { .. } => true,
    }
}

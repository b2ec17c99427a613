//! The client workload and the end-of-run check of its acknowledgements.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use psionic_core::serving::Decision;
use psionic_core::{ClusterCommand, ClusterEvent, NodeId};
use psionic_net::NodeClient;

use super::SimCluster;
use crate::observer::Shared;
use crate::report::Violation;

impl SimCluster {
    /// Starts a client that proposes `rate_per_s` commands per simulated second until
    /// [`SimCluster::stop_workload`]: every other one to the node it believes leads,
    /// the rest to each node in turn, which forwards it to its leader when it does not
    /// lead (and answers once it applied it). At the same rate,
    /// every node that leads by its own account (a deposed one too) issues a decision
    /// to every other node, so stale fences meet newer ones.
    pub fn start_workload(&mut self, rate_per_s: u64) {
        self.stop_workload();
        let shared = self.shared.clone();
        let running = Arc::new(AtomicBool::new(true));
        self.workload = Some(running.clone());
        let names: Vec<(String, NodeId)> = self
            .nodes
            .iter()
            .map(|(name, node)| (name.clone(), node.node_id))
            .collect();
        self.start_readers((rate_per_s / 2).max(1), running.clone());
        self.spawn_paced(rate_per_s, running, move |seq| {
            issue_decisions(&shared, &names, seq);
            let through_leader = seq % 2 == 1;
            let client = {
                let state = shared.state();
                let believed_leader = || {
                    names
                        .iter()
                        .find(|(name, id)| state.leaders.get(name).copied().flatten() == Some(*id))
                };
                let target = match through_leader {
                    true => names.get((seq / 2) as usize % names.len().max(1)),
                    false => believed_leader(),
                };
                target.and_then(|(name, _)| state.clients.get(name).cloned())
            };
            let Some(client) = client else { return };
            let command = ClusterCommand::SetPolicy {
                name: format!("workload-{}", seq % 16),
                document: seq.to_le_bytes().to_vec(),
            };
            let shared = shared.clone();
            madsim::task::spawn(async move {
                let place = super::history::write_of(&command).map(|write| super::history::call_write(&shared, write));
                let answer = match through_leader {
                    true => client.propose_through_leader(vec![local(command)]).await,
                    false => client.propose(vec![command]).await,
                };
                if let Some(place) = place {
                    super::history::answer_write(&shared, place, &answer);
                }
                if let Ok(committed) = answer {
                    let acknowledged = committed.iter().map(|committed| (committed.id, committed.index));
                    shared.state().acknowledged.extend(acknowledged);
                }
            });
        });
    }

    /// On the harness node, calls `tick` with 1, 2, ... `rate_per_s` times per
    /// simulated second while `running` holds.
    pub(super) fn spawn_paced(
        &self,
        rate_per_s: u64,
        running: Arc<AtomicBool>,
        mut tick: impl FnMut(u64) + Send + 'static,
    ) {
        let interval = Duration::from_millis(1_000 / rate_per_s.max(1));
        self.harness.spawn(async move {
            let mut seq = 0u64;
            while running.load(Ordering::Relaxed) {
                tokio::time::sleep(interval).await;
                seq += 1;
                tick(seq);
            }
        });
    }

    /// Stops the workload client.
    pub fn stop_workload(&mut self) {
        if let Some(running) = self.workload.take() {
            running.store(false, Ordering::Relaxed);
        }
    }

    /// Whether a workload ever ran (so acknowledgements must be checked).
    pub fn acknowledged_count(&self) -> usize {
        self.shared.state().acknowledged.len()
    }

    /// Checks, at the end, that every acknowledged proposal is committed where it was
    /// acknowledged. Returns (acknowledged, lost).
    pub fn check_acknowledged(&mut self) -> (u64, u64) {
        let mut state = self.shared.state();
        let acknowledged = state.acknowledged.clone();
        let mut lost = 0;
        for (id, index) in &acknowledged {
            let proposal = match state.invariants.committed.fact_at(*index) {
                Some(ClusterEvent::Applied { proposal, .. } | ClusterEvent::Refused { proposal, .. }) => {
                    Some(*proposal)
                }
                _ => None,
            };
            if proposal != Some(*id) {
                lost += 1;
                let proposal = format!("{}/{}/{}", id.node, id.epoch, id.seq);
                state.violations.push(Violation::AcknowledgedCommitLost {
                    proposal,
                    index: *index,
                });
            }
        }
        (acknowledged.len() as u64, lost)
    }
}

/// `command` as the local operator's.
fn local(command: ClusterCommand) -> (psionic_core::state::Origin, ClusterCommand) {
    let origin = psionic_core::state::Origin::operator(psionic_core::state::LOCAL_CREDENTIAL, &command);
    (origin, command)
}

/// Every node that leads by its own account sends directive `seq` to every other node.
fn issue_decisions(shared: &Arc<Shared>, names: &[(String, NodeId)], seq: u64) {
    let leaders: Vec<(NodeClient, NodeId)> = {
        let state = shared.state();
        names
            .iter()
            .filter(|(name, id)| state.leaders.get(name).copied().flatten() == Some(*id))
            .filter_map(|(name, id)| Some((state.clients.get(name)?.clone(), *id)))
            .collect()
    };
    for (client, leader) in leaders {
        for (_, to) in names.iter().filter(|(_, id)| *id != leader) {
            let (client, to) = (client.clone(), *to);
            let decision = Decision::Directive {
                id: seq,
                body: Vec::new(),
            };
            madsim::task::spawn(async move {
                let _ = client.issue_decision(to, decision).await;
            });
        }
    }
}

//! What an operator does to a running cluster: commands through the leader
//! (membership changes, big commands), leadership transfers, nodes added through seeds
//! as the runbook says, and nodes retired once removed. Acknowledged commands join
//! the acknowledged-commit check like the workload's.

use std::time::Duration;

use psionic_core::consensus::ProposalRejection;
use psionic_core::{ClusterCommand, NodeId};
use psionic_net::{Committed, ProposeError};

use super::SimCluster;
use super::requests::leader_client;
use crate::report::NotApplied;
use crate::trace::{Fault, TraceKind};

/// How long to wait before asking the leader again after a passing refusal.
const RETRY_AFTER: Duration = Duration::from_millis(200);

impl SimCluster {
    /// Proposes `command` through the node leading now (a refusal for good is
    /// answered as [`NotApplied::Rejected`]), asking again after passing
    /// refusals (no leader, a transfer or another voter change under way, a new
    /// leader's first entry not committed) until it commits or `within` passes.
    /// Each answer is traced; a commit is acknowledged.
    pub async fn operator_command(
        &mut self,
        command: ClusterCommand,
        within: Duration,
    ) -> Result<Committed, NotApplied> {
        let credential = self.operator_credential.clone();
        self.operator_command_as(&credential, command, within).await
    }

    /// [`Self::operator_command`] under `credential`.
    pub async fn operator_command_as(
        &mut self,
        credential: &str,
        command: ClusterCommand,
        within: Duration,
    ) -> Result<Committed, NotApplied> {
        let deadline = tokio::time::Instant::now() + within;
        let asked = command_name(&command);
        let mut last = "no leader".to_owned();
        while tokio::time::Instant::now() < deadline {
            let Some(client) = leader_client(&self.shared) else {
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            };
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let place = super::history::write_of(&command).map(|write| super::history::call_write(&self.shared, write));
            let origin = psionic_core::state::Origin::operator(credential, &command);
            let proposed = tokio::time::timeout(remaining, client.propose_as(vec![(origin, command.clone())])).await;
            if let (Some(place), Ok(answer)) = (place, &proposed) {
                super::history::answer_write(&self.shared, place, answer);
            }
            let Ok(answer) = proposed else {
                last = "appended, not committed within the bound".to_owned();
                self.shared.record(
                    "harness",
                    TraceKind::Operator {
                        command: asked.clone(),
                        outcome: last.clone(),
                    },
                );
                break;
            };
            last = outcome_name(&answer);
            self.shared.record(
                "harness",
                TraceKind::Operator {
                    command: asked.clone(),
                    outcome: last.clone(),
                },
            );
            match answer {
                Ok(committed) => {
                    let committed = committed[0];
                    self.shared.state().acknowledged.push((committed.id, committed.index));
                    return Ok(committed);
                }
                Err(ProposeError::Rejected(reason)) if !passing(reason) => {
                    return Err(NotApplied::Rejected { reason });
                }
                Err(_) => tokio::time::sleep(RETRY_AFTER).await,
            }
        }
        Err(NotApplied::NotCommitted { outcome: last })
    }

    /// Hands leadership to `to`, and waits until it leads (at most `within`).
    pub async fn transfer_leadership(&mut self, to: &str, within: Duration) -> Result<(), NotApplied> {
        let target = self.node_id(to);
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.current_leader().as_deref() == Some(to) {
                return Ok(());
            }
            if let Some(client) = leader_client(&self.shared) {
                let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                let Ok(answer) = tokio::time::timeout(remaining, client.transfer_leadership_to(Some(target))).await
                else {
                    break;
                };
                let outcome = match answer {
                    Ok(to) => format!("transferring to {to}"),
                    Err(Some(refusal)) => refusal.to_string(),
                    Err(None) => "node stopped".to_owned(),
                };
                self.shared.record(
                    "harness",
                    TraceKind::Operator {
                        command: format!("transfer-leadership to {to}"),
                        outcome,
                    },
                );
            }
            tokio::time::sleep(RETRY_AFTER * 5).await;
        }
        Err(NotApplied::NotTransferred { to: to.to_owned() })
    }

    /// Marks `name` removed from the membership: it is stopped, and no longer counted
    /// by liveness conditions.
    pub fn retire(&mut self, name: &str) {
        if !self.killed.contains(name) {
            self.kill(name);
        }
        self.kill_order.retain(|killed| killed != name);
        self.retired.insert(name.to_owned());
    }

    /// Honest nodes not retired, live or killed, in order.
    pub fn honest_members(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(name, node)| node.spec.honest && node.spec.admissible && !self.retired.contains(*name))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Nodes removed from the membership by an operator.
    pub fn retired(&self) -> &std::collections::BTreeSet<String> {
        &self.retired
    }

    /// Starts `spec` as a fresh node joining through its seeds.
    pub fn add_joining_node(&mut self, spec: super::NodeSpec) {
        let name = spec.name.clone();
        self.add_node(spec);
        self.fault(Fault::AddNode { node: name });
    }

    /// The ids of the nodes named.
    pub fn node_ids(&self, names: &[String]) -> Vec<NodeId> {
        names.iter().map(|name| self.node_id(name)).collect()
    }
}

/// Refusals that pass: asking again later may succeed (a node just started may not
/// have been heard, with its measurement, yet).
fn passing(reason: ProposalRejection) -> bool {
    matches!(
        reason,
        ProposalRejection::NotAttested {
            refusal: psionic_core::attestation::AttestationRefusal::NotMeasured,
            ..
        } | ProposalRejection::TokenNotHeldByQuorum { .. }
            | ProposalRejection::NotLeader { .. }
            | ProposalRejection::TransferInProgress
            | ProposalRejection::ConfigChangePending { .. }
            | ProposalRejection::LeaderTermUncommitted { .. }
            | ProposalRejection::Superseded { .. }
            | ProposalRejection::SnapshotCovered { .. }
    )
}

fn command_name(command: &ClusterCommand) -> String {
    match command {
        ClusterCommand::SetPolicy { name, document } => format!("set-policy {name} ({} bytes)", document.len()),
        other => serde_json::to_string(other).unwrap_or_else(|_| format!("{other:?}")),
    }
}

fn outcome_name(answer: &Result<Vec<Committed>, ProposeError>) -> String {
    match answer {
        Ok(committed) => match committed[0].refusal {
            None => format!("committed at {}", committed[0].index),
            Some(refusal) => format!("committed at {}, refused: {refusal}", committed[0].index),
        },
        Err(ProposeError::Rejected(reason)) => format!("rejected: {reason}"),
        Err(ProposeError::Unknown) => "unknown".to_owned(),
        Err(ProposeError::NotRunning) => "not running".to_owned(),
    }
}

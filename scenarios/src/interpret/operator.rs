//! Operator steps: nodes added through seeds as the runbook says, membership changes,
//! leadership transfers and big commands through the leader, and what is done to a
//! stopped node's disk.

use std::time::Duration;

use psionic_core::consensus::ProposalRejection;
use psionic_core::limits::ENTRY_BYTES_MAX;
use psionic_core::{ClusterCommand, NodeRole};
use psionic_sim::NotApplied;
use psionic_sim::cluster::{DiskAction, NodeSpec};

use super::{Play, consensus_config, readiness};
use crate::nodes::{addr, cluster_token, settings};
use crate::script::Target;

/// How long a restarted node whose disk was damaged gets to refuse to start.
const REFUSAL_WITHIN: Duration = Duration::from_secs(2);

impl Play<'_> {
    /// Starts `n<next>` with `role`, seeded with every live node and no genesis voters,
    /// and admits it through the leader within `within`. An operator whose admission
    /// does not commit in time gives up and stops the node (it is left out of
    /// liveness, as a removed one is).
    pub(super) async fn add_node(&mut self, role: NodeRole, within: Duration) -> Result<(), NotApplied> {
        let octet = self.next_octet();
        let seeds = self
            .cluster
            .live_honest()
            .iter()
            .filter_map(|name| name.strip_prefix('n')?.parse::<u8>().ok())
            .map(addr)
            .collect();
        let consensus = consensus_config(&self.scenario.cluster, Vec::new());
        let token = cluster_token(self.token_rotations);
        let mut settings = settings(octet, seeds, &token, consensus);
        settings.role = role;
        let name = format!("n{octet}");
        self.last_target = Some(name.clone());
        self.cluster.add_joining_node(NodeSpec {
            name: name.clone(),
            secret_key: madsim::rand::random(),
            settings,
            honest: true,
            admissible: true,
            devices: readiness(None),
            artifacts: Default::default(),
        });
        let admit = ClusterCommand::AdmitMember {
            node: self.cluster.node_id(&name),
            role,
            stream_addr: None,
        };
        if let Err(not_admitted) = self.cluster.operator_command(admit, within).await {
            self.cluster.retire(&name);
            return Err(not_admitted);
        }
        Ok(())
    }

    /// The octet of the next added node: after every honest node so far.
    fn next_octet(&self) -> u8 {
        let highest = self
            .cluster
            .names()
            .iter()
            .filter_map(|name| name.strip_prefix('n')?.parse::<u8>().ok())
            .max()
            .unwrap_or(0);
        highest + 1
    }

    /// Removes `node` through the leader; once committed it is stopped for good, when
    /// `retire` (an operator who waits for the outcome; one who does not moves on and
    /// may start the node again).
    pub(super) async fn remove(&mut self, node: &Target, within: Duration, retire: bool) -> Result<(), NotApplied> {
        let asked: Vec<String> = self.removals_asked.iter().cloned().collect();
        let name = self.resolve(node, &asked)?;
        self.removals_asked.insert(name.clone());
        let command = ClusterCommand::RemoveMember {
            node: self.cluster.node_id(&name),
        };
        self.cluster.operator_command(command, within).await?;
        if retire {
            self.cluster.retire(&name);
        }
        Ok(())
    }

    /// Promotes the learner `node` through the leader.
    pub(super) async fn promote(&mut self, node: &Target, within: Duration) -> Result<(), NotApplied> {
        let name = self.resolve(node, &[])?;
        let command = ClusterCommand::PromoteVoter {
            node: self.cluster.node_id(&name),
        };
        self.cluster.operator_command(command, within).await.map(drop)
    }

    /// Hands leadership to `to`.
    pub(super) async fn transfer(&mut self, to: &Target, within: Duration) -> Result<(), NotApplied> {
        let name = self.resolve(to, &[])?;
        self.cluster.transfer_leadership(&name, within).await
    }

    /// A command of `size_bytes` through the leader: under the entry limit it must
    /// commit; at the limit or past it, it must be refused as too large.
    pub(super) async fn command(&mut self, size_bytes: usize, within: Duration) -> Result<(), NotApplied> {
        let command = ClusterCommand::SetPolicy {
            name: "operator".to_owned(),
            document: vec![0xab; size_bytes],
        };
        let answer = self.cluster.operator_command(command, within).await;
        match (answer, size_bytes >= ENTRY_BYTES_MAX) {
            (Ok(_), false) => Ok(()),
            (
                Err(NotApplied::Rejected {
                    reason: ProposalRejection::TooLarge { .. },
                }),
                true,
            ) => Ok(()),
            (Ok(committed), true) => Err(NotApplied::NotCommitted {
                outcome: format!("committed at {} past the entry limit", committed.index),
            }),
            (Err(failure), _) => Err(failure),
        }
    }

    /// Queues `action` on the stopped `node`'s disk.
    pub(super) fn on_disk(&mut self, node: &Target, action: DiskAction) -> Result<(), NotApplied> {
        let name = self.resolve(node, &[])?;
        self.require(self.cluster.killed().contains(&name), &name)?;
        self.cluster.queue_disk_action(&name, action);
        Ok(())
    }

    /// After restarting `name`: if its disk was damaged so that it must refuse to
    /// start, waits for the refusal and counts it down.
    pub(super) async fn await_refusal_if_damaged(&mut self, name: &str, must_refuse: bool) -> Result<(), NotApplied> {
        if !must_refuse {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + REFUSAL_WITHIN;
        while !self.cluster.refused_to_start(name) {
            if tokio::time::Instant::now() >= deadline {
                return Err(NotApplied::NotRefused { node: name.to_owned() });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.cluster.mark_down(name);
        Ok(())
    }
}

//! One step's action against the simulated cluster.

use std::time::Duration;

use psionic_core::NodeEpoch;
use psionic_sim::cluster::DiskAction;
use psionic_sim::{Condition, NotApplied, Violation};

use super::Play;
use super::targets::halves;
use crate::script::{Action, Expectation, Target};

impl Play<'_> {
    /// Carries out `action` (the step at `line`); a fault that cannot be applied is a
    /// violation naming the line.
    pub(super) async fn act(&mut self, line: usize, action: &Action) {
        if let Err(reason) = self.try_act(action).await {
            self.cluster.violate(Violation::FaultNotApplied {
                line,
                action: action_name(action).to_owned(),
                reason,
            });
        }
    }

    async fn try_act(&mut self, action: &Action) -> Result<(), NotApplied> {
        match action {
            Action::Expect { condition, within_ms } => {
                self.expect(condition, Duration::from_millis(*within_ms)).await?;
            }
            Action::Workload { rate_per_s } => self.cluster.start_workload(*rate_per_s),
            Action::StopWorkload => self.cluster.stop_workload(),
            Action::Resident {
                model,
                nodes,
                within_ms,
            } => {
                let nodes = self.resolve_all(nodes)?;
                let within = Duration::from_millis(*within_ms);
                if !self.cluster.make_resident(model, &nodes, within).await {
                    return Err(NotApplied::NoLeader);
                }
            }
            Action::Stage { model, node, within_ms } => {
                let node = self.resolve(node, &[])?;
                if !self
                    .cluster
                    .stage(model, &node, Duration::from_millis(*within_ms))
                    .await
                {
                    return Err(NotApplied::NoLeader);
                }
            }
            Action::DamageStaging { node, within_ms } => {
                let node = self.resolve(node, &[])?;
                if !self
                    .cluster
                    .damage_staging(&node, Duration::from_millis(*within_ms))
                    .await
                {
                    return Err(NotApplied::NeverFired);
                }
            }
            Action::Requests {
                model,
                rate_per_s,
                memory_gib,
                forwarded,
                stream,
            } => {
                let mix = psionic_sim::RequestMix {
                    forwarded: *forwarded,
                    stream: *stream,
                };
                self.cluster.start_requests(model, *rate_per_s, *memory_gib, mix);
            }
            Action::StopRequests => self.cluster.stop_requests(),
            Action::ServingPolicy { policy, within_ms } => {
                if !self
                    .cluster
                    .set_serving_policy(*policy, Duration::from_millis(*within_ms))
                    .await
                {
                    return Err(NotApplied::NoLeader);
                }
            }
            Action::Isolate { node } => {
                let node = self.resolve(node, &[])?;
                self.cluster.isolate(&node);
            }
            Action::Partition { nodes } => {
                let minority = self.resolve_all(nodes)?;
                self.cluster.partition(&minority);
            }
            Action::RandomHalves => {
                let (left, _) = halves(self.cluster.live_honest());
                self.cluster.partition(&left);
            }
            Action::Bridge { node } => {
                let bridge = self.resolve(node, &[])?;
                let (left, right) = halves(self.everyone_but(&bridge));
                self.cluster.bridge(&bridge, &left, &right);
            }
            Action::Clog { from, to } => {
                let pair = self.resolve_all(&[from.clone(), to.clone()])?;
                self.cluster.clog(&pair[0], &pair[1]);
            }
            Action::Heal => self.cluster.heal(),
            Action::Kill { node } => {
                let node = self.resolve(node, &[])?;
                self.cluster.kill(&node);
            }
            Action::Restart { node } => {
                let node = self.resolve(node, &[])?;
                self.require(self.cluster.killed().contains(&node), &node)?;
                let must_refuse = self.cluster.must_refuse(&node);
                self.removals_asked.remove(&node);
                self.cluster.restart(&node);
                self.await_refusal_if_damaged(&node, must_refuse).await?;
            }
            Action::CrashLeader { within_ms } => {
                let leader = self.resolve(&Target::Leader, &[])?;
                let bound = Duration::from_millis(*within_ms);
                let measured = self.cluster.crash_leader_and_measure(&leader, bound).await;
                self.failover_ms.extend(measured);
            }
            Action::Pause { node } => {
                let node = self.resolve(node, &[])?;
                self.require(!self.cluster.paused().contains(&node), &node)?;
                self.cluster.pause(&node);
            }
            Action::Resume { node } => {
                let node = self.resolve(node, &[])?;
                self.require(self.cluster.paused().contains(&node), &node)?;
                self.cluster.resume(&node);
            }
            Action::Network { loss, latency_ms } => {
                let (loss_now, latency_now) = self.cluster.network();
                self.cluster
                    .set_network(loss.unwrap_or(loss_now), latency_ms.unwrap_or(latency_now));
            }
            Action::Clock {
                node,
                jump_ms,
                drift_ppm,
            } => {
                let node = self.resolve(node, &[])?;
                self.cluster.skew_clock(&node, *jump_ms, *drift_ppm);
            }
            Action::Duplicate { rate } => {
                self.duplication_asked |= *rate > 0.0;
                self.cluster.duplicate(*rate);
            }
            Action::Replay { node, epoch, to } => self.replay(node, *epoch, to).await?,
            Action::Impostor { node, to } => self.impostor(node, to, true).await?,
            Action::Flap {
                node,
                period_ms,
                for_ms,
            } => self.flap(node, *period_ms, *for_ms).await?,
            Action::Gpus { node, gpus } => {
                let node = self.resolve(node, &[])?;
                self.cluster.set_devices(&node, super::readiness(Some(gpus)));
            }
            Action::Chaos {
                for_ms,
                every_ms,
                faults,
            } => self.chaos(*for_ms, *every_ms, faults).await,
            Action::AddNode { role, within_ms } => self.add_node(*role, Duration::from_millis(*within_ms)).await?,
            Action::Remove {
                node,
                within_ms,
                must_commit,
            } => {
                let removed = self.remove(node, Duration::from_millis(*within_ms), *must_commit).await;
                if *must_commit {
                    removed?;
                }
            }
            Action::Promote { node, within_ms } => self.promote(node, Duration::from_millis(*within_ms)).await?,
            Action::TransferLeadership { to, within_ms } => {
                self.transfer(to, Duration::from_millis(*within_ms)).await?;
            }
            Action::Command { size_bytes, within_ms } => {
                self.command(*size_bytes, Duration::from_millis(*within_ms)).await?;
            }
            Action::Corrupt { node, what } => self.on_disk(node, DiskAction::Damage(*what))?,
            Action::Backup { node } => self.on_disk(node, DiskAction::Backup)?,
            Action::Restore { node } => self.on_disk(node, DiskAction::Restore)?,
            Action::Rotate { what, node, within_ms } => {
                self.rotate(*what, node.as_ref(), Duration::from_millis(*within_ms), true)
                    .await?
            }
        }
        Ok(())
    }

    /// The epoch of `node`'s `life`-th start.
    fn epoch_of_life(&self, node: &str, life: u64) -> Result<NodeEpoch, NotApplied> {
        self.cluster
            .epoch_of_life(node, life)
            .ok_or(NotApplied::WrongState { node: node.to_owned() })
    }

    pub(super) fn require(&self, holds: bool, node: &str) -> Result<(), NotApplied> {
        if holds {
            Ok(())
        } else {
            Err(NotApplied::WrongState { node: node.to_owned() })
        }
    }

    async fn expect(&mut self, expectation: &Expectation, bound: Duration) -> Result<(), NotApplied> {
        let conditions = match expectation {
            Expectation::OneLeader => vec![Condition::OneLeader],
            Expectation::QuorumLeader => vec![Condition::QuorumLeader],
            Expectation::Converged => vec![Condition::Converged {
                index: self.cluster.highest_applied(),
            }],
            Expectation::FullMembership => vec![Condition::FullMembership],
            Expectation::Isolated(node) => vec![Condition::Isolated {
                subject: self.resolve(node, &[])?,
            }],
            Expectation::Rejoined { node, epoch } => vec![Condition::Rejoined {
                subject: self.resolve(node, &[])?,
                life: *epoch,
            }],
            Expectation::SnapshotInstalled(node) => vec![Condition::SnapshotInstalled {
                node: self.resolve(node, &[])?,
            }],
            Expectation::ReadinessCommitted => vec![Condition::ReadinessCommitted],
            Expectation::Voters(count) => vec![Condition::Voters { count: *count }],
            Expectation::RequestsSettled => vec![Condition::RequestsSettled],
            Expectation::StagingEnded => vec![Condition::StagingEnded],
            Expectation::Staged => vec![Condition::Staged],
            Expectation::Copying(node) => vec![Condition::Copying {
                node: self.resolve(node, &[])?,
            }],
            Expectation::Refused { by, from, kind } => {
                let from = self.resolve(from, &[])?;
                let sender = self.cluster.node_id(&from);
                let viewers = match by {
                    Target::All => self.everyone_but(&from),
                    one => vec![self.resolve(one, std::slice::from_ref(&from))?],
                };
                viewers
                    .into_iter()
                    .map(|viewer| Condition::Refused {
                        viewer,
                        sender,
                        kind: *kind,
                    })
                    .collect()
            }
        };
        for condition in conditions {
            self.cluster.wait_for(condition, bound).await;
        }
        Ok(())
    }

    async fn replay(&mut self, node: &Target, life: u64, to: &Target) -> Result<(), NotApplied> {
        let node = self.resolve(node, &[])?;
        let epoch = self.epoch_of_life(&node, life)?;
        let receivers = match to {
            Target::All => self.everyone_but(&node),
            one => vec![self.resolve(one, std::slice::from_ref(&node))?],
        };
        let mut frames = 0;
        for receiver in receivers {
            frames += self.cluster.replay(&node, epoch, &receiver).await;
        }
        if frames == 0 {
            return Err(NotApplied::NeverFired);
        }
        self.last_target = Some(node);
        Ok(())
    }

    async fn flap(&mut self, node: &Target, period_ms: u64, for_ms: u64) -> Result<(), NotApplied> {
        let node = self.resolve(node, &[])?;
        let period = Duration::from_millis(period_ms);
        let until_ms = self.cluster.now_ms() + for_ms;
        while self.cluster.now_ms() < until_ms {
            self.cluster.isolate(&node);
            tokio::time::sleep(period).await;
            self.cluster.reconnect(&node);
            tokio::time::sleep(period).await;
        }
        Ok(())
    }

    /// At the end: a fault that was set must have fired.
    pub(super) fn check_faults_fired(&mut self) {
        if self.duplication_asked && self.cluster.duplicated() == 0 {
            let line = self
                .scenario
                .steps
                .iter()
                .find(|step| matches!(step.action, Action::Duplicate { .. }))
                .map_or(0, |step| step.line);
            self.cluster.violate(Violation::FaultNotApplied {
                line,
                action: "duplicate".to_owned(),
                reason: NotApplied::NeverFired,
            });
        }
    }
}

/// The action's name as a file writes it.
pub(super) fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Expect { .. } => "expect",
        Action::Workload { .. } => "workload",
        Action::StopWorkload => "stop-workload",
        Action::Resident { .. } => "resident",
        Action::Stage { .. } => "stage",
        Action::DamageStaging { .. } => "damage-staging",
        Action::Requests { .. } => "requests",
        Action::StopRequests => "stop-requests",
        Action::ServingPolicy { .. } => "serving-policy",
        Action::Isolate { .. } => "isolate",
        Action::Partition { .. } => "partition",
        Action::RandomHalves => "random-halves",
        Action::Bridge { .. } => "bridge",
        Action::Clog { .. } => "clog",
        Action::Heal => "heal",
        Action::Kill { .. } => "kill",
        Action::Restart { .. } => "restart",
        Action::CrashLeader { .. } => "crash-leader",
        Action::Pause { .. } => "pause",
        Action::Resume { .. } => "resume",
        Action::Network { .. } => "network",
        Action::Clock { .. } => "clock",
        Action::Duplicate { .. } => "duplicate",
        Action::Replay { .. } => "replay",
        Action::Impostor { .. } => "impostor",
        Action::Flap { .. } => "flap",
        Action::Gpus { .. } => "gpus",
        Action::Chaos { .. } => "chaos",
        Action::AddNode { .. } => "add-node",
        Action::Remove { .. } => "remove",
        Action::Promote { .. } => "promote",
        Action::TransferLeadership { .. } => "transfer-leadership",
        Action::Command { .. } => "command",
        Action::Corrupt { .. } => "corrupt",
        Action::Backup { .. } => "backup",
        Action::Restore { .. } => "restore",
        Action::Rotate { .. } => "rotate",
    }
}

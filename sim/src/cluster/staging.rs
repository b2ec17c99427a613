//! Artifacts on the simulated nodes' disks and the copies between them: models put on
//! disks (`resident`), copies asked for (`stage`), a partial copy damaged, and the
//! checks that a copy ended and that a node recorded resident holds the artifact's
//! bytes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use psionic_core::staging::{ArtifactHasher, MemoryArtifacts};
use psionic_core::state::Residency;
use psionic_core::{ClusterCommand, Digest, StateReport};
use psionic_net::NodeClient;

use super::SimCluster;
use crate::report::Violation;
use crate::trace::Fault;

/// Bytes of a simulated model's weights: about twenty chunks, so a copy spans many
/// round trips and faults land in the middle of one.
pub const SIM_MODEL_BYTES: usize = 1 << 20;

/// How often a wait looks again.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// The files of the simulated model `name`: a configuration naming it, and weights
/// drawn from its name.
pub fn sim_model_files(name: &str) -> Vec<(String, Vec<u8>)> {
    let seed = Digest::of_parts(
        psionic_core::DigestKind::Policy,
        &[b"simulated model ", name.as_bytes()],
    );
    let weights = (0..SIM_MODEL_BYTES)
        .map(|at| seed.0[at % 32] ^ (at / 32) as u8)
        .collect();
    vec![
        (
            "config.json".to_owned(),
            format!("{{\"model\":\"{name}\"}}").into_bytes(),
        ),
        ("model.safetensors".to_owned(), weights),
    ]
}

/// The artifact digest of the simulated model `name` (the digest of its files).
pub fn model_artifact(name: &str) -> Digest {
    let files = sim_model_files(name);
    ArtifactHasher::of_files(files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())))
}

/// Whether `report` shows `node` holding `artifact` as `residency` matches.
fn shows(
    report: &StateReport,
    node: psionic_core::NodeId,
    artifact: Digest,
    matches: impl Fn(Residency) -> bool,
) -> bool {
    report
        .members
        .iter()
        .find(|member| member.node_id == node)
        .and_then(|member| member.artifacts.get(&artifact).copied())
        .is_some_and(matches)
}

impl SimCluster {
    fn artifact_disk(&self, name: &str) -> Arc<Mutex<MemoryArtifacts>> {
        Arc::clone(&self.node(name).spec.artifacts)
    }

    /// Puts `model` on the disks of `on` (every live honest node when empty), as a
    /// scan of its models directory would find it: each reports its own residency
    /// through its leader. Returns once every live honest node's applied state shows
    /// it resident on each (false if not within `within`).
    pub async fn make_resident(&mut self, model: &str, on: &[String], within: Duration) -> bool {
        let artifact = model_artifact(model);
        let live = self.live_honest();
        let holders: Vec<String> = match on.is_empty() {
            true => live.clone(),
            false => on.iter().filter(|name| live.contains(name)).cloned().collect(),
        };
        let clients: Vec<(NodeClient, BTreeMap<Digest, Residency>)> = holders
            .iter()
            .filter_map(|name| {
                let disk = self.artifact_disk(name);
                let mut disk = disk.lock().expect("the artifact disk lock is not poisoned");
                disk.put(sim_model_files(model));
                let client = self.shared.state().clients.get(name).cloned()?;
                Some((client, disk.scan()))
            })
            .collect();
        for (client, held) in clients {
            client.hold_artifacts(held).await;
        }
        let ids: Vec<_> = holders.iter().map(|name| self.node_id(name)).collect();
        self.wait_for_views(within, |report| {
            ids.iter()
                .all(|id| shows(report, *id, artifact, |residency| residency == Residency::Resident))
        })
        .await
    }

    /// Commits, through the leader, that `node` stage `model`; false if no leader
    /// committed it within `within`.
    pub async fn stage(&mut self, model: &str, node: &str, within: Duration) -> bool {
        let artifact = model_artifact(model);
        let command = ClusterCommand::SetArtifactResidency {
            node: self.node_id(node),
            artifact,
            residency: Residency::STAGING_ASKED,
        };
        self.staged
            .retain(|(name, staged)| (name.as_str(), *staged) != (node, artifact));
        self.staged.push((node.to_owned(), artifact));
        self.commit(vec![command], within).await
    }

    /// Waits (at most `within`) until `node` holds part of a copy, then flips one bit
    /// in the middle of it; false if it never held one.
    pub async fn damage_staging(&mut self, node: &str, within: Duration) -> bool {
        let disk = self.artifact_disk(node);
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            let damaged = {
                let mut disk = disk.lock().expect("the artifact disk lock is not poisoned");
                let partial = self
                    .staged
                    .iter()
                    .filter(|(name, _)| name == node)
                    .find_map(|(_, artifact)| {
                        Some((*artifact, disk.partial_bytes(artifact).filter(|bytes| *bytes > 0)?))
                    });
                partial.filter(|(artifact, bytes)| disk.damage_partial(artifact, (*bytes / 2) as usize))
            };
            if let Some((artifact, bytes)) = damaged {
                let node = node.to_owned();
                self.fault(Fault::StagingDamaged {
                    node,
                    artifact,
                    offset: bytes / 2,
                });
                return true;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        false
    }

    /// Whether every copy asked for on a live node ended in every live node's view:
    /// resident (or, unless `resident_only`, failed).
    pub(super) async fn staging_ended(&self, resident_only: bool) -> bool {
        let live = self.live_honest();
        let copies: Vec<_> = self
            .staged
            .iter()
            .filter(|(name, _)| live.contains(name))
            .map(|(name, artifact)| (self.node_id(name), *artifact))
            .collect();
        let reports = self.state_reports(&live).await;
        reports.len() == live.len()
            && reports.values().all(|report| {
                copies.iter().all(|(node, artifact)| {
                    shows(report, *node, *artifact, |residency| match residency {
                        Residency::Resident => true,
                        Residency::Failed => !resident_only,
                        _ => false,
                    })
                })
            })
    }

    /// Whether `node`'s disk holds part of a copy asked of it.
    pub(super) fn copying(&self, node: &str) -> bool {
        let disk = self.artifact_disk(node);
        let disk = disk.lock().expect("the artifact disk lock is not poisoned");
        self.staged
            .iter()
            .any(|(name, artifact)| name == node && disk.partial_bytes(artifact).is_some_and(|bytes| bytes > 0))
    }

    /// After the run: a member any live node's state records resident holds the
    /// artifact's bytes (its disk's files hash to the digest).
    pub async fn check_residency(&mut self) {
        let live = self.live_honest();
        let reports = self.state_reports(&live).await;
        let names: BTreeMap<_, _> = self
            .nodes
            .iter()
            .map(|(name, node)| (node.node_id, name.clone()))
            .collect();
        let mut violations = Vec::new();
        for (viewer, report) in &reports {
            for member in &report.members {
                let Some(name) = names.get(&member.node_id) else {
                    continue;
                };
                let disk = self.artifact_disk(name);
                let disk = disk.lock().expect("the artifact disk lock is not poisoned");
                for (artifact, residency) in &member.artifacts {
                    if *residency == Residency::Resident && !disk.holds_verified(artifact) {
                        violations.push(Violation::ResidentNotHeld {
                            viewer: viewer.clone(),
                            node: name.clone(),
                            artifact: *artifact,
                        });
                    }
                }
            }
        }
        self.shared.state().violations.extend(violations);
    }

    /// Waits until every live node's report satisfies `holds` (false if not within
    /// `within`).
    async fn wait_for_views(&self, within: Duration, holds: impl Fn(&StateReport) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            let live = self.live_honest();
            let reports = self.state_reports(&live).await;
            if reports.len() == live.len() && reports.values().all(&holds) {
                return true;
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
        false
    }
}

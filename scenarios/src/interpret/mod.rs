//! Runs a [`Scenario`] on a simulated cluster: builds the nodes, plays the timeline,
//! lifts every fault, then checks the liveness phase and the acknowledgements.

mod act;
mod chaos;
mod impostor;
mod operator;
mod rotate;
mod targets;

use std::time::Duration;

use madsim::rand::Rng;
use psionic_core::{ConsensusConfig, NodeEpoch, NodeIdentity, NodeRole};
use psionic_cuda::{BackendRefusal, CudaReadiness, DeviceInventory};
use psionic_sim::Condition;
use psionic_sim::cluster::{NodeSpec, SimCluster};

use crate::nodes::{CLUSTER_TOKEN, INTRUDER_TOKEN, UNAPPROVED_BINARY, addr, settings};
use crate::script::{ClusterSpec, GpuSpec, Scenario, SeedMode, StepTime};

/// What a finished timeline leaves for the report.
pub struct Finished {
    /// The cluster, for its verdict.
    pub cluster: SimCluster,
    /// Failover times measured by `crash-leader` steps.
    pub failover_ms: Vec<u64>,
    /// Honest nodes in this run (the seed picks it within a range).
    pub nodes: usize,
}

/// The state of a run in progress.
struct Play<'a> {
    scenario: &'a Scenario,
    cluster: SimCluster,
    failover_ms: Vec<u64>,
    /// The node the previous node-naming step acted on.
    last_target: Option<String>,
    /// Whether any step asked for duplication (checked to have fired at the end).
    duplication_asked: bool,
    /// Nodes a `remove` step named (a later `remove killed` names another).
    removals_asked: std::collections::BTreeSet<String>,
    /// Admission token rotations committed so far (nodes added from now on hold
    /// [`crate::nodes::cluster_token`] of it).
    token_rotations: u32,
    /// Key rotations committed so far, by node.
    key_rotations: std::collections::BTreeMap<String, u64>,
    /// Operator credential rotations asked so far.
    credential_rotations: u32,
}

/// Plays `scenario` on `cluster` to the end.
pub async fn run(scenario: &Scenario, mut cluster: SimCluster) -> Finished {
    let nodes = pick_node_count(&scenario.cluster);
    cluster.start_network(
        scenario.network.loss,
        (scenario.network.latency_ms_min, scenario.network.latency_ms_max),
    );
    for spec in node_specs(&scenario.cluster, nodes) {
        cluster.add_node(spec);
    }
    let mut play = Play {
        scenario,
        cluster,
        failover_ms: Vec::new(),
        last_target: None,
        duplication_asked: false,
        removals_asked: Default::default(),
        token_rotations: 0,
        key_rotations: Default::default(),
        credential_rotations: 0,
    };
    let started_ms = play.cluster.now_ms();
    for step in &scenario.steps {
        let wait_ms = match step.at {
            StepTime::AfterMs(after_ms) => after_ms,
            StepTime::AtMs(at_ms) => (started_ms + at_ms).saturating_sub(play.cluster.now_ms()),
        };
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        play.act(step.line, &step.action).await;
    }
    play.liveness_phase().await;
    Finished {
        cluster: play.cluster,
        failover_ms: play.failover_ms,
        nodes,
    }
}

fn pick_node_count(cluster: &ClusterSpec) -> usize {
    if cluster.nodes_min == cluster.nodes_max {
        cluster.nodes_min
    } else {
        madsim::rand::thread_rng().gen_range(cluster.nodes_min..=cluster.nodes_max)
    }
}

fn node_specs(cluster: &ClusterSpec, nodes: usize) -> Vec<NodeSpec> {
    let keys: Vec<[u8; 32]> = (0..nodes).map(|_| madsim::rand::random()).collect();
    let coordinators = nodes - cluster.executors;
    let voters: Vec<_> = keys
        .iter()
        .take(cluster.voters.unwrap_or(coordinators).min(coordinators))
        .map(|key| (NodeIdentity::new(*key, NodeEpoch(0)).node_id(), NodeRole::Both))
        .collect();
    // Like a manifest: the scenario's nodes, and no one else, join by themselves.
    let listed = keys
        .iter()
        .map(|key| NodeIdentity::new(*key, NodeEpoch(0)).node_id())
        .collect();
    let consensus = ConsensusConfig {
        admit_only: listed,
        ..consensus_config(cluster, voters)
    };
    let mut specs: Vec<NodeSpec> = keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let octet = index as u8 + 1;
            let seeds = match cluster.seeds {
                SeedMode::First if index == 0 => Vec::new(),
                SeedMode::First => vec![addr(1)],
                SeedMode::All => (1..=nodes as u8).filter(|other| *other != octet).map(addr).collect(),
            };
            let mut settings = settings(octet, seeds, CLUSTER_TOKEN, consensus.clone());
            if index >= coordinators {
                settings.role = NodeRole::Executor;
            }
            let name = format!("n{octet}");
            if cluster.metal.contains(&name) {
                settings.executor = std::sync::Arc::new(crate::nodes::metal_executor());
            }
            NodeSpec {
                devices: readiness(cluster.gpus.get(&name)),
                name,
                secret_key: *key,
                settings,
                honest: true,
                admissible: true,
                artifacts: Default::default(),
            }
        })
        .collect();
    for intruder in 1..=cluster.intruders {
        let octet = 65 + intruder as u8;
        let seeds = (1..=nodes as u8).map(addr).collect();
        specs.push(NodeSpec {
            name: format!("intruder{intruder}"),
            secret_key: madsim::rand::random(),
            settings: settings(octet, seeds, INTRUDER_TOKEN, consensus.clone()),
            honest: false,
            admissible: false,
            devices: readiness(None),
            artifacts: Default::default(),
        });
    }
    for stranger in 1..=cluster.unattested {
        let octet = 75 + stranger as u8;
        let seeds = (1..=nodes as u8).map(addr).collect();
        let mut settings = settings(octet, seeds, CLUSTER_TOKEN, consensus.clone());
        settings.binary = Some(UNAPPROVED_BINARY);
        specs.push(NodeSpec {
            name: format!("stranger{stranger}"),
            secret_key: madsim::rand::random(),
            settings,
            honest: true,
            admissible: false,
            devices: readiness(None),
            artifacts: Default::default(),
        });
    }
    for outsider in 1..=cluster.untrusted {
        let octet = 85 + outsider as u8;
        let seeds = (1..=nodes as u8).map(addr).collect();
        let mut settings = settings(octet, seeds, CLUSTER_TOKEN, consensus.clone());
        settings.consensus.allowed_binaries.insert(UNAPPROVED_BINARY);
        specs.push(NodeSpec {
            name: format!("outsider{outsider}"),
            secret_key: madsim::rand::random(),
            settings,
            honest: true,
            admissible: false,
            devices: readiness(None),
            artifacts: Default::default(),
        });
    }
    list_strangers(&mut specs);
    specs
}

/// Lists the strangers for admission on every node, as a manifest would list a node
/// that then runs another binary: only their measurement keeps them out.
fn list_strangers(specs: &mut [NodeSpec]) {
    let strangers: Vec<_> = specs
        .iter()
        .filter(|spec| spec.honest && !spec.admissible)
        .map(|spec| NodeIdentity::new(spec.secret_key, NodeEpoch(0)).node_id())
        .collect();
    for spec in specs {
        spec.settings.consensus.admit_only.extend(strangers.iter().copied());
    }
}

/// What a simulated driver reports: no driver without a spec, no device for zero GPUs.
fn readiness(gpus: Option<&GpuSpec>) -> CudaReadiness {
    match gpus {
        None => CudaReadiness::of(Err(BackendRefusal::NoDriver)),
        Some(spec) if spec.count == 0 => CudaReadiness::of(Err(BackendRefusal::NoDevice)),
        Some(spec) => CudaReadiness::of(Ok(DeviceInventory::simulated_with(
            spec.count,
            spec.memory_gib,
            spec.compute_capability,
        ))),
    }
}

fn consensus_config(cluster: &ClusterSpec, initial_voters: Vec<(psionic_core::NodeId, NodeRole)>) -> ConsensusConfig {
    let defaults = ConsensusConfig::default();
    let overrides = &cluster.consensus;
    ConsensusConfig {
        initial_voters,
        digest_on_apply: true,
        allowed_binaries: [crate::nodes::SIM_BINARY].into(),
        snapshot_after_entries: overrides
            .snapshot_after_entries
            .unwrap_or(defaults.snapshot_after_entries),
        snapshot_chunk_bytes: overrides.snapshot_chunk_bytes.unwrap_or(defaults.snapshot_chunk_bytes),
        ..defaults
    }
    .with_timing(overrides.timing)
}

impl Play<'_> {
    /// Lifts every fault, then waits for the liveness bounds and checks that no
    /// acknowledged proposal was lost.
    async fn liveness_phase(&mut self) {
        let cluster = &mut self.cluster;
        cluster.stop_workload();
        cluster.stop_requests();
        for name in cluster.paused() {
            cluster.resume(&name);
        }
        if cluster.links_cut() {
            cluster.heal();
        }
        let network = &self.scenario.network;
        let baseline = (network.loss, (network.latency_ms_min, network.latency_ms_max));
        if cluster.network() != baseline {
            cluster.set_network(baseline.0, baseline.1);
        }
        if self.duplication_asked {
            cluster.duplicate(0.0);
        }
        let liveness = self.scenario.liveness;
        if let Some(within_ms) = liveness.leader_within_ms {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let bound = Duration::from_millis(within_ms);
            cluster.wait_for(Condition::OneLeader, bound).await;
        }
        if let Some(within_ms) = liveness.converge_within_ms {
            let index = cluster.highest_applied();
            let bound = Duration::from_millis(within_ms);
            cluster.wait_for(Condition::Converged { index }, bound).await;
        }
        if cluster.requests_submitted() {
            // Each request is submitted at most `SUBMISSIONS_MAX` times, a few seconds
            // apart at worst.
            let bound = Duration::from_millis(u64::from(psionic_sim::cluster::SUBMISSIONS_MAX) * 2_000);
            cluster.wait_for(Condition::RequestsSettled, bound).await;
        }
        self.check_faults_fired();
    }
}

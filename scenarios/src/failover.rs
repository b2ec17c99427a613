//! `failover`: a 5-node cluster under a steady stream of proposals; the leader
//! crashes; a minority holding the old leader is partitioned off; heal; the crashed
//! node restarts. Safety is checked on every event; after the heal one leader and equal
//! digests must follow within a bound, and no acknowledged proposal may be lost.

use std::time::Duration;

use psionic_core::{ConsensusConfig, NodeEpoch, NodeIdentity, NodeRole};
use psionic_sim::Condition;
use psionic_sim::cluster::{NodeSpec, SimCluster};

use crate::nodes::{CLUSTER_TOKEN, addr, settings};

const NODES: [&str; 5] = ["n1", "n2", "n3", "n4", "n5"];
/// Proposals per simulated second.
const WORKLOAD_RATE_PER_S: u64 = 20;

fn specs() -> Vec<NodeSpec> {
    let keys: Vec<[u8; 32]> = NODES.iter().map(|_| madsim::rand::random()).collect();
    let voters: Vec<_> = keys
        .iter()
        .map(|key| (NodeIdentity::new(*key, NodeEpoch(0)).node_id(), NodeRole::Both))
        .collect();
    NODES
        .iter()
        .enumerate()
        .map(|(index, name)| NodeSpec {
            name: (*name).to_owned(),
            secret_key: keys[index],
            honest: true,
            settings: {
                let seeds = (1..=NODES.len() as u8)
                    .filter(|other| usize::from(*other) != index + 1)
                    .map(addr)
                    .collect();
                let consensus = ConsensusConfig {
                    initial_voters: voters.clone(),
                    ..ConsensusConfig::default()
                };
                settings(index as u8 + 1, seeds, CLUSTER_TOKEN, consensus)
            },
        })
        .collect()
}

/// Runs the timeline; returns the cluster and the measured failover times.
pub async fn run(mut cluster: SimCluster) -> (SimCluster, Vec<u64>) {
    for spec in specs() {
        cluster.add_node(spec);
    }
    let mut failovers = Vec::new();
    cluster.wait_for(Condition::OneLeader, Duration::from_secs(10)).await;
    cluster.start_workload(WORKLOAD_RATE_PER_S);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let Some(old_leader) = cluster.current_leader() else {
        return (cluster, failovers);
    };
    failovers.extend(
        cluster
            .crash_leader_and_measure(&old_leader, Duration::from_secs(10))
            .await,
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    let Some(leader) = cluster.current_leader() else {
        return (cluster, failovers);
    };
    let companion = NODES
        .iter()
        .copied()
        .find(|name| *name != old_leader && *name != leader)
        .expect("5 nodes");
    let minority = [old_leader.as_str(), companion];
    let majority: Vec<&str> = NODES.iter().copied().filter(|name| !minority.contains(name)).collect();
    cluster.partition(&minority, &majority);
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.heal();
    cluster.restart(&old_leader);
    tokio::time::sleep(Duration::from_secs(2)).await;

    cluster.stop_workload();
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.wait_for(Condition::OneLeader, Duration::from_secs(10)).await;
    let index = cluster.highest_applied();
    cluster
        .wait_for(Condition::Converged { index }, Duration::from_secs(10))
        .await;
    (cluster, failovers)
}

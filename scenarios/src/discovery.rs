//! `discovery`: membership by gossip, isolation and heal, an intruder, restart and
//! replay of old-epoch frames.

use std::net::SocketAddr;
use std::time::Duration;

use psionic_core::{ConsensusConfig, NodeEpoch, RefusalKind};
use psionic_sim::Condition;
use psionic_sim::cluster::{NodeSpec, SimCluster};

use crate::nodes::{CLUSTER_TOKEN, addr, settings};

const HONEST: [&str; 5] = ["n1", "n2", "n3", "n4", "n5"];
const INTRUDER_TOKEN: &[u8] = b"a token from somewhere else";

fn spec(name: &str, ip_index: u8, seeds: Vec<SocketAddr>, token: &[u8]) -> NodeSpec {
    let settings = settings(ip_index, seeds, token, ConsensusConfig::default());
    NodeSpec {
        name: name.to_owned(),
        secret_key: madsim::rand::random(),
        settings,
        honest: token == CLUSTER_TOKEN,
    }
}

/// Runs the timeline and returns the cluster for its verdict.
pub async fn run(mut cluster: SimCluster) -> SimCluster {
    for (index, name) in HONEST.iter().enumerate() {
        let seeds = if index == 0 { vec![] } else { vec![addr(1)] };
        cluster.add_node(spec(name, index as u8 + 1, seeds, CLUSTER_TOKEN));
    }
    cluster.add_node(spec("intruder", 66, (1..=5).map(addr).collect(), INTRUDER_TOKEN));
    cluster
        .wait_for(Condition::FullMembership, Duration::from_secs(10))
        .await;

    cluster.isolate("n3");
    cluster
        .wait_for(Condition::Isolated { subject: "n3".into() }, Duration::from_secs(15))
        .await;
    cluster.heal();
    cluster
        .wait_for(Condition::FullMembership, Duration::from_secs(15))
        .await;

    cluster.kill("n2");
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.restart("n2");
    let rejoined = Condition::RejoinedAtEpoch {
        subject: "n2".into(),
        epoch: NodeEpoch(2),
    };
    cluster.wait_for(rejoined, Duration::from_secs(10)).await;

    let restarted = cluster.node_id("n2");
    let intruder = cluster.node_id("intruder");
    for viewer in HONEST.iter().filter(|name| **name != "n2") {
        cluster.replay("n2", NodeEpoch(1), viewer).await;
        let stale = Condition::Refused {
            viewer: (*viewer).into(),
            sender: restarted,
            kind: RefusalKind::StaleEpoch,
        };
        cluster.wait_for(stale, Duration::from_secs(2)).await;
    }
    for viewer in HONEST {
        let refused = Condition::Refused {
            viewer: viewer.into(),
            sender: intruder,
            kind: RefusalKind::AuthenticationFailed,
        };
        cluster.wait_for(refused, Duration::from_secs(2)).await;
    }
    cluster
}

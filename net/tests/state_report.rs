//! A node's state report: the watch is republished at most every
//! `state_watch_ms_min`, and `NodeClient::state_report` always answers as of now.

#![cfg(not(madsim))]

use std::sync::Arc;
use std::time::Duration;

use psionic_core::{
    AdmissionToken, ClusterCommand, ClusterNamespace, ConsensusConfig, DiscoveryConfig, NodeEpoch, NodeIdentity,
    NodeRole, TrustPosture,
};
use psionic_net::{Clock, IdentityFile, LogObserver, NodeClient, NodeSettings, RunningNode};

async fn single_voter(data_dir: &std::path::Path, state_watch_ms_min: u64) -> RunningNode {
    let key = [7u8; 32];
    IdentityFile::in_dir(data_dir).create(key).await.unwrap();
    let settings = NodeSettings {
        data_dir: data_dir.to_owned(),
        namespace: ClusterNamespace::new("state-report").unwrap(),
        cluster_genesis: b"state-report".to_vec(),
        role: NodeRole::Both,
        posture: TrustPosture::TrustedLan {
            token: AdmissionToken::new(b"state report test admission token".to_vec()).unwrap(),
            next: None,
        },
        discovery_bind: "127.0.0.1:0".parse().unwrap(),
        stream_port: 0,
        seeds: Vec::new(),
        discovery: DiscoveryConfig::default(),
        consensus: ConsensusConfig {
            initial_voters: vec![(NodeIdentity::new(key, NodeEpoch(0)).node_id(), NodeRole::Both)],
            ..ConsensusConfig::default()
        },
        clock: Clock::new(),
        mutations: Default::default(),
        devices: Default::default(),
        executor: Arc::new(psionic_net::execute::ReferenceExecutor::cpu()),
        artifacts: None,
        artifact_disk: None,
        state_watch_ms_min,
        binary: None,
    };
    psionic_net::start(settings, Arc::new(LogObserver::default()))
        .await
        .unwrap()
}

/// Proposes a policy until the (new) leader commits it; its index.
async fn commit_one(client: &NodeClient) -> u64 {
    let policy = ClusterCommand::SetPolicy {
        name: "first".into(),
        document: b"{}".to_vec(),
    };
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(committed) = client.propose(vec![policy.clone()]).await {
                return committed[0].index;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a single voter commits")
}

#[tokio::test]
async fn the_watch_is_throttled_and_the_fresh_report_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let node = single_voter(dir.path(), 60_000).await;
    let client = node.client();
    let index = commit_one(&client).await;

    let fresh = client.state_report().await.expect("the node runs");
    assert!(fresh.applied_index >= index, "the fresh report includes the commit");
    assert!(
        node.state.borrow().applied_index < index,
        "the watch was not republished within state_watch_ms_min"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_a_minimum_the_watch_follows_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let node = single_voter(dir.path(), 0).await;
    let client = node.client();
    let index = commit_one(&client).await;
    // The driver publishes in the same turn that answers the proposal.
    assert!(
        node.state.borrow().applied_index >= index,
        "the watch follows the commit at once"
    );
    node.shutdown().await.unwrap();
}

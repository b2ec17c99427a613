//! Helpers of the key rotation tests: staging and committing rotations, and keeping
//! the keys nodes moved to as their drivers do.

use psionic_core::consensus::ProposalRejection;
use psionic_core::{ClusterCommand, NodeConfig, NodeEpoch, NodeIdentity, PublicKey, TrustPosture};

use super::Harness;

/// The secret of node `index`'s `generation`th rotated key.
pub fn next_secret(index: usize, generation: u8) -> [u8; 32] {
    let mut secret = [0x70 + generation; 32];
    secret[0] = index as u8;
    secret
}

/// Stages node `index`'s next key, proposes the record on `leader`, and runs until it
/// has an outcome; then keeps the keys nodes moved to, as their drivers do.
pub fn rotate(harness: &mut Harness, index: usize, leader: usize, generation: u8) -> Result<u64, ProposalRejection> {
    let secret = next_secret(index, generation);
    let rotation = harness.nodes[index]
        .stage_key(harness.now, secret)
        .expect("the node holds the cluster's genesis");
    let id = harness.nodes[leader].propose(harness.now, ClusterCommand::RotateNodeKey { rotation });
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    keep_keys(harness);
    harness.outcome_of(leader, id).expect("an outcome within 3 s")
}

/// What each node's driver does on [`Event::KeyRotated`]: its config (the identity it
/// restarts with) takes the key it moved to.
pub fn keep_keys(harness: &mut Harness) {
    for index in 0..harness.nodes.len() {
        let current = harness.nodes[index].key_status().current;
        let secret = (1..16)
            .map(|generation| next_secret(index, generation))
            .find(|secret| public(*secret) == current);
        if let Some(secret) = secret {
            let identity = &harness.configs[index].identity;
            harness.configs[index].identity = NodeIdentity::of_node(identity.node_id(), secret, identity.epoch());
        }
    }
}

/// The key node `node` is moving away from, while both are accepted.
pub fn retiring(harness: &Harness, index: usize, node: psionic_core::NodeId) -> Option<PublicKey> {
    let keys = harness.nodes[index].consensus().state().node_keys.get(&node);
    keys.and_then(|keys| keys.retiring)
}

pub fn public(secret: [u8; 32]) -> PublicKey {
    PublicKey(NodeIdentity::new(secret, NodeEpoch(0)).public_key().to_bytes())
}

pub fn commit_index(harness: &Harness, index: usize) -> u64 {
    harness.nodes[index].consensus().commit_index()
}

/// Proposes on whoever leads, and checks every live node commits it.
pub fn commits_everywhere(harness: &mut Harness) {
    let leader = harness.await_leader(5_000);
    harness.propose(leader, 3);
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    let leader_commit = commit_index(harness, leader);
    for index in 0..harness.nodes.len() {
        assert_eq!(commit_index(harness, index), leader_commit, "node {index} caught up");
    }
}

/// `configs` under the configured-peers posture, every node pinning every other.
pub fn configured_peers(mut configs: Vec<NodeConfig>) -> Vec<NodeConfig> {
    let peers: Vec<_> = configs.iter().map(|config| config.identity.public_key()).collect();
    for config in &mut configs {
        config.posture = TrustPosture::ConfiguredPeers { peers: peers.clone() };
    }
    configs
}

/// Rotates every voter's key, one after the other, each through whoever leads then.
pub fn rotate_every_voter(harness: &mut Harness, voters: &[usize]) {
    for voter in voters {
        let leader = harness.await_leader(5_000);
        rotate(harness, *voter, leader, 1).expect("the rotation commits");
        harness.run_until_ms(harness.now.as_millis() + 1_000);
    }
}

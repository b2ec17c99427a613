//! Genesis is part of the replicated history: a node's starting state never depends
//! on its own configuration file, a node that joins takes the cluster's genesis, and a
//! node whose genesis disagrees is refused with both digests named.
//!
//! proves: F1, F3

mod harness;

use harness::{Harness, config, node_id};
use psionic_core::ConsensusEvent;
use psionic_core::ConsensusRefusal;
use psionic_core::consensus::RecoveryError;
use psionic_core::{ConfigError, Event, Node, NodeRole, Refusal};

fn converged(harness: &Harness) -> bool {
    let states: Vec<_> = harness
        .nodes
        .iter()
        .map(|node| (node.consensus().state().applied_index, node.consensus().state_digest()))
        .collect();
    states.iter().all(|state| *state == states[0])
}

#[test]
fn nodes_added_through_seeds_alone_take_the_founders_genesis_and_converge() {
    // As the runbook adds nodes: the first lists itself as the genesis voter, the
    // others only a seed.
    let mut configs: Vec<_> = (0..3).map(|index| config(index, 1)).collect();
    configs[0].consensus.initial_voters = vec![(node_id(0), NodeRole::Both)];
    let mut harness = Harness::new(configs, 51);
    harness.run_until_ms(4_000);
    assert_eq!(harness.nodes[0].consensus().state().voters().len(), 3, "both promoted");
    harness.propose(harness.leaders()[0], 20);
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert!(converged(&harness));
    let refused_on_apply = harness.events.iter().any(|(_, _, event)| {
        matches!(
            event,
            Event::Consensus(ConsensusEvent::Applied {
                fact: psionic_core::ClusterEvent::Refused { .. },
                ..
            })
        )
    });
    assert!(!refused_on_apply, "no node refuses what another applied");
}

#[test]
fn a_node_alone_with_no_seeds_and_no_voters_founds_a_cluster_and_leads() {
    let mut harness = Harness::new(vec![config(0, 1)], 52);
    let leader = harness.await_leader(3_000);
    assert_eq!(leader, 0);
    harness.propose(0, 1);
    harness.run_until_ms(harness.now.as_millis() + 100);
    assert!(harness.nodes[0].consensus().state().policies.contains_key("p0"));
}

#[test]
fn a_restarted_node_whose_configured_voters_changed_is_refused_naming_both_digests() {
    let mut configs: Vec<_> = (0..1).map(|index| config(index, 1)).collect();
    configs[0].consensus.initial_voters = vec![(node_id(0), NodeRole::Both)];
    let mut harness = Harness::new(configs, 53);
    harness.await_leader(3_000);
    let mut changed = harness.configs[0].clone();
    changed.consensus.initial_voters.push((node_id(1), NodeRole::Both));
    changed.durable = harness.disks[0].durable();
    let error = Node::new(changed, harness.now).expect_err("another genesis than the one recorded");
    assert!(
        matches!(error, ConfigError::Recovery(RecoveryError::GenesisMismatch { configured, recorded }) if Some(configured) != recorded),
        "{error}"
    );
}

#[test]
fn a_node_of_another_genesis_is_refused_and_never_counted() {
    // Two founders that each think they found the cluster (same token and id).
    let mut configs: Vec<_> = (0..2).map(|index| config(index, 1)).collect();
    configs[0].consensus.initial_voters = vec![(node_id(0), NodeRole::Both)];
    configs[1].consensus.initial_voters = vec![(node_id(1), NodeRole::Both)];
    let mut harness = Harness::new(configs, 54);
    harness.run_until_ms(3_000);
    let refused = harness.events.iter().any(|(_, _, event)| {
        matches!(event, Event::Refused { refusal: Refusal::Consensus(ConsensusRefusal::GenesisMismatch { ours, theirs, .. }), .. } if ours != theirs)
    });
    assert!(refused, "the other founder's messages are refused");
    for node in &harness.nodes {
        assert_eq!(node.consensus().state().members.len(), 1, "neither admits the other");
        assert_eq!(
            node.consensus().leader(),
            Some(node.node_id()),
            "each leads only itself"
        );
    }
}

#[test]
fn a_leader_under_a_steady_load_still_admits_the_nodes_that_join() {
    // Proposals every 20 ms send appends more often than the heartbeat interval: the
    // leader's maintenance (admission, promotion) runs on its own timer all the same.
    let mut configs: Vec<_> = (0..3).map(|index| config(index, 1)).collect();
    configs[0].consensus.initial_voters = vec![(node_id(0), NodeRole::Both)];
    let mut harness = Harness::new(configs, 55);
    for _ in 0..200 {
        harness.run_until_ms(harness.now.as_millis() + 20);
        if let Some(&leader) = harness.leaders().first() {
            harness.propose(leader, 1);
        }
    }
    let leader = harness.leaders()[0];
    assert_eq!(
        harness.nodes[leader].consensus().state().voters().len(),
        3,
        "both promoted under load"
    );
}

//! Consensus driven on its own through its public API, messages handed over as values.
//!
//! proves: F3, F5

use psionic_core::consensus::{Consensus, Effect, RaftMessage};
use psionic_core::{ClusterCommand, ClusterId, ConsensusConfig, Durable, Instant, NodeId, NodeRole, RoleKind};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

fn id(n: usize) -> NodeId {
    NodeId([n as u8 + 1; 16])
}

fn cluster(size: usize) -> Vec<Consensus> {
    let config = ConsensusConfig {
        initial_voters: (0..size).map(|n| (id(n), NodeRole::Both)).collect(),
        ..ConsensusConfig::default()
    };
    (0..size)
        .map(|n| {
            let identity = (id(n), psionic_core::NodeEpoch(1), ClusterId([9; 16]));
            let rng = ChaCha8Rng::seed_from_u64(n as u64);
            Consensus::new(identity, config.clone(), Durable::default(), rng, Instant::ZERO).unwrap()
        })
        .collect()
}

/// Drains every node's effects, checking each vote request follows the persist of its
/// term, and delivers the sends. Returns how many messages were delivered and how
/// many of them were (not pre-) vote requests.
fn pump(nodes: &mut [Consensus], now: Instant) -> (usize, usize) {
    let mut votes_requested = 0;
    let mut in_flight: Vec<(NodeId, NodeId, RaftMessage)> = Vec::new();
    for (index, node) in nodes.iter_mut().enumerate() {
        let mut persisted_term = false;
        for effect in node.drain_effects() {
            match effect {
                Effect::PersistHardState(_) => persisted_term = true,
                Effect::Send { to, message } => {
                    if matches!(message, RaftMessage::VoteRequest { pre_vote: false, .. }) {
                        assert!(persisted_term, "a vote request was sent before its term was persisted");
                        votes_requested += 1;
                    }
                    in_flight.push((id(index), to, message));
                }
                _ => {}
            }
        }
    }
    let delivered = in_flight.len();
    for (from, to, message) in in_flight {
        let target = (0..nodes.len()).find(|n| id(*n) == to).unwrap();
        nodes[target].step(now, from, message);
    }
    (delivered, votes_requested)
}

/// Fires timers and delivers messages until a leader applied its first entry.
fn elect(nodes: &mut [Consensus]) -> (usize, Instant) {
    let mut now = Instant::ZERO;
    let mut votes_requested = 0;
    for _ in 0..100 {
        loop {
            let (delivered, votes) = pump(nodes, now);
            votes_requested += votes;
            if delivered == 0 {
                break;
            }
        }
        let leader = nodes
            .iter()
            .position(|node| node.role_kind() == RoleKind::Leader && node.state().applied_index >= 1);
        if let Some(leader) = leader {
            assert!(
                votes_requested >= nodes.len() - 1,
                "the leader asked its peers for votes"
            );
            return (leader, now);
        }
        now = nodes.iter().filter_map(Consensus::poll_timeout).min().unwrap();
        for node in nodes.iter_mut() {
            node.handle_timeout(now);
        }
    }
    panic!("no leader after 100 timeouts");
}

#[test]
fn a_cluster_driven_without_nodes_elects_commits_and_applies_everywhere() {
    let mut nodes = cluster(3);
    let (leader, now) = elect(&mut nodes);
    let command = ClusterCommand::SetPolicy {
        name: "lanes".into(),
        document: b"{}".to_vec(),
    };
    let origin = psionic_core::state::Origin::operator("raw", &command);
    let ids = nodes[leader].propose(now, vec![(origin.clone(), command.clone()), (origin, command)]);
    assert_eq!(ids.len(), 2);
    let target = nodes[leader].log().last_index();
    let mut rounds = 0;
    while nodes.iter().any(|node| node.state().applied_index < target) {
        // The followers learn the commit index from the next append.
        if pump(&mut nodes, now).0 == 0 {
            let heartbeat = nodes[leader].poll_timeout().unwrap();
            nodes[leader].handle_timeout(heartbeat);
        }
        rounds += 1;
        assert!(rounds < 20, "the proposals did not apply on every node");
    }
    let digests: Vec<_> = nodes.iter().map(Consensus::state_digest).collect();
    assert!(digests.iter().all(|digest| *digest == digests[0]));
    assert!(nodes.iter().all(|node| node.state().policies.contains_key("lanes")));
}

#[test]
fn timers_fire_only_once_due() {
    let mut nodes = cluster(3);
    let genesis: Vec<Effect> = nodes[0].drain_effects().collect();
    assert!(
        matches!(genesis[..], [Effect::PersistSnapshot(ref snapshot)] if snapshot.meta.last_index == 0),
        "a genesis voter first makes its genesis durable: {genesis:?}"
    );
    let due = nodes[0].poll_timeout().expect("a follower waits for a leader");
    nodes[0].handle_timeout(Instant::from_micros(due.as_micros() - 1));
    assert_eq!(nodes[0].drain_effects().count(), 0);
    nodes[0].handle_timeout(due);
    let sends = nodes[0]
        .drain_effects()
        .filter(|effect| matches!(effect, Effect::Send { .. }))
        .count();
    assert_eq!(sends, 2, "a timed-out follower asks both peers for a pre-vote");
}

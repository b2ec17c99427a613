//! Node key rotation between real cores in memory: a node stages a new key, the log
//! commits the record its old and new keys signed, and from then on every node binds
//! its id to the new key: its frames, votes and evidence under the new key are heard,
//! under the old one refused, across restarts, under both postures, whoever leads.
//!
//! proves: F10

mod harness;

use harness::keys::{commits_everywhere, configured_peers, next_secret, public, retiring, rotate};
use harness::{Harness, consensus_configs};
use psionic_core::FrameRefusal;
use psionic_core::consensus::ProposalRejection;
use psionic_core::state::{ApplyRefusal, KeyRotation, RotationKey, RotationProblem};
use psionic_core::wire::{AuthFailure, Authenticator, Body, Message, Recipient, Seal, Sealed, encode_frame};
use psionic_core::{ClusterCommand, Event, NodeConfig, NodeEpoch, NodeIdentity, Refusal, TransportClass};

fn key_mismatches(harness: &Harness, index: usize, sender: psionic_core::NodeId) -> usize {
    harness
        .events_of(index)
        .filter(|event| {
            matches!(event, Event::Refused { refusal: Refusal::Frame(FrameRefusal::AuthenticationFailed { sender: from, failure: AuthFailure::KeyMismatch }), .. } if *from == sender)
        })
        .count()
}

fn a_follower_rotates(configs: Vec<NodeConfig>, seed: u64) {
    let mut harness = Harness::new(configs, seed);
    let leader = harness.await_leader(5_000);
    let follower = (leader + 1) % 3;
    let old = harness.nodes[follower].key_status().current;
    rotate(&mut harness, follower, leader, 1).expect("the rotation commits");
    let new = public(next_secret(follower, 1));
    let node = harness.nodes[follower].node_id();
    for index in 0..3 {
        let keys = harness.nodes[index].consensus().state().node_keys.get(&node);
        assert_eq!(keys.map(|keys| keys.key), Some(new), "node {index}");
    }
    let status = harness.nodes[follower].key_status();
    assert_eq!((status.current, status.staged, status.superseded_by), (new, None, None));
    assert!(
        harness
            .events_of(follower)
            .any(|event| *event == Event::KeyRotated { key: new })
    );
    assert_ne!(old, new);
    commits_everywhere(&mut harness);
    for index in 0..3 {
        assert_eq!(
            retiring(&harness, index, node),
            None,
            "node {index}: the old key was retired"
        );
    }

    // The old key, held by someone else: refused on every node.
    let old_identity = NodeIdentity::new([follower as u8 + 1; 32], NodeEpoch(1_000));
    let before = key_mismatches(&harness, leader, node);
    let forged = sealed(&harness, &old_identity, leader, Message::Raft(probe()));
    harness.inject(harness::addr(follower), leader, forged);
    assert_eq!(
        key_mismatches(&harness, leader, node),
        before + 1,
        "a frame under the old key is refused"
    );

    // Restarted from its disk, with the key its driver kept, it is heard at once.
    harness.reboot(follower);
    assert_eq!(harness.nodes[follower].key_status().current, new);
    commits_everywhere(&mut harness);
}

/// A datagram from `identity` to node `to`, sealed as the cluster's posture seals.
fn sealed(harness: &Harness, identity: &NodeIdentity, to: usize, message: Message) -> Vec<u8> {
    let posture = &harness.configs[to].posture;
    let mut authenticator = Authenticator::new(posture, harness::cluster_id(), identity);
    let recipient = harness::identity(to);
    let sealed = Sealed {
        counter: 1 << 40,
        transport: TransportClass::Datagram,
        auth_kind: authenticator.kind_for(true),
    };
    let body = Body::new(
        harness::cluster_id(),
        identity,
        Some(Recipient::of(&recipient)),
        sealed,
        message,
    );
    encode_frame(&body, &mut authenticator, Seal::to(&recipient)).unwrap()
}

fn probe() -> psionic_core::consensus::message::RaftMessage {
    psionic_core::consensus::message::RaftMessage::TimeoutNow { term: 1_000_000 }
}

#[test]
fn a_follower_rotates_its_key_under_the_trusted_lan_posture() {
    a_follower_rotates(consensus_configs(3, 3), 41);
}

#[test]
fn a_follower_rotates_its_key_under_configured_peers() {
    a_follower_rotates(configured_peers(consensus_configs(3, 3)), 42);
}

/// The leader's own rotation: it applies the entry before its followers learn the
/// commit, so they hear its new key through the entry in their logs, and it hands
/// leadership over. Two voters: the follower cannot elect itself without it.
#[test]
fn a_leader_rotating_its_own_key_hands_over_and_the_cluster_goes_on() {
    for (configs, seed) in [
        (consensus_configs(2, 2), 43),
        (configured_peers(consensus_configs(3, 3)), 44),
        (consensus_configs(3, 3), 45),
    ] {
        let mut harness = Harness::new(configs, seed);
        let leader = harness.await_leader(5_000);
        rotate(&mut harness, leader, leader, 1).expect("the rotation commits");
        harness.run_until_ms(harness.now.as_millis() + 3_000);
        assert_eq!(
            harness.nodes[leader].key_status().current,
            public(next_secret(leader, 1))
        );
        commits_everywhere(&mut harness);
        // A second rotation, from the key the first moved to.
        let leader = harness.await_leader(5_000);
        let follower = (leader + 1) % harness.nodes.len();
        rotate(&mut harness, follower, leader, 2).expect("a second rotation commits");
        commits_everywhere(&mut harness);
    }
}

/// The record must start from the key in force, carry both signatures and move to a
/// key no other node speaks with: a bent signature, a replayed record, or one taking
/// another node's key is refused by the leader before it is appended.
#[test]
fn a_record_not_from_the_key_in_force_or_with_a_bad_signature_is_refused() {
    let mut harness = Harness::new(consensus_configs(3, 3), 46);
    let leader = harness.await_leader(5_000);
    let follower = (leader + 1) % 3;
    let node = harness.nodes[follower].node_id();
    let replayed = harness.nodes[follower]
        .stage_key(harness.now, next_secret(follower, 1))
        .unwrap();
    let propose = |harness: &mut Harness, rotation| {
        let id = harness.nodes[leader].propose(harness.now, ClusterCommand::RotateNodeKey { rotation });
        harness.run_until_ms(harness.now.as_millis() + 2_000);
        harness.outcome_of(leader, id).expect("an outcome")
    };
    let refused = |problem| {
        Err(ProposalRejection::Invalid {
            refusal: ApplyRefusal::KeyRotation { node, problem },
        })
    };
    let mut bent = replayed.clone();
    bent.new_signature[0] ^= 1;
    assert_eq!(
        propose(&mut harness, bent),
        refused(RotationProblem::BadSignature {
            which: RotationKey::New
        })
    );
    propose(&mut harness, replayed.clone()).expect("the genuine record commits");
    let in_force = public(next_secret(follower, 1));
    assert_eq!(
        propose(&mut harness, replayed.clone()),
        refused(RotationProblem::NotKeyInForce {
            given: replayed.old_key,
            in_force
        })
    );
    // A key that speaks for another node cannot be taken, even holding its secret.
    let other = (leader + 2) % 3;
    let genesis = harness.nodes[leader].consensus().state().genesis.unwrap();
    let current = NodeIdentity::of_node(node, next_secret(follower, 1), NodeEpoch(1));
    let takeover = KeyRotation::sign(genesis, &current, &harness::identity(other));
    assert_eq!(
        propose(&mut harness, takeover),
        refused(RotationProblem::KeyInUse {
            node: harness.nodes[other].node_id()
        })
    );
}

/// A crash after the rotation applied but before the driver kept the new key: the
/// node restarts on its old key with the new one staged again, and moves at once.
#[test]
fn a_node_restarted_on_its_old_key_moves_to_the_staged_key_the_log_names() {
    let mut harness = Harness::new(consensus_configs(3, 3), 47);
    let leader = harness.await_leader(5_000);
    let follower = (leader + 1) % 3;
    let old_config_identity = harness.configs[follower].identity.clone();
    rotate(&mut harness, follower, leader, 1).expect("the rotation commits");
    harness.configs[follower].identity = old_config_identity;
    harness.reboot(follower);
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    let new = public(next_secret(follower, 1));
    assert_eq!(harness.nodes[follower].key_status().superseded_by, Some(new));
    harness.nodes[follower]
        .stage_key(harness.now, next_secret(follower, 1))
        .unwrap();
    let status = harness.nodes[follower].key_status();
    assert_eq!((status.current, status.staged, status.superseded_by), (new, None, None));
    commits_everywhere(&mut harness);
}

/// A node stages one key at a time: asked again, it refuses another, so no record
/// can move it to a key it no longer holds.
#[test]
fn a_node_refuses_to_stage_another_key_while_one_is_staged() {
    let mut harness = Harness::new(consensus_configs(3, 3), 51);
    harness.await_leader(5_000);
    let first = harness.nodes[1].stage_key(harness.now, next_secret(1, 1)).unwrap();
    let again = harness.nodes[1].stage_key(harness.now, next_secret(1, 1)).unwrap();
    assert_eq!(
        first.new_key, again.new_key,
        "the same key staged again gives its record"
    );
    assert_eq!(
        harness.nodes[1].stage_key(harness.now, next_secret(1, 2)),
        Err(RotationProblem::AnotherKeyStaged {
            staged: public(next_secret(1, 1))
        })
    );
}

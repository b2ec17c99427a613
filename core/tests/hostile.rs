//! Hostile inputs from authenticated senders that are not members: each gets a typed
//! refusal and a counter, and the cluster keeps running and loses nothing. (Frames
//! that fail before authentication are in `admission.rs`; snapshot chunks out of order
//! or with a bad digest in the consensus unit tests and the `snapshot_chunks` fuzz
//! harness.)
//!
//! proves: D3, F10

mod harness;

use psionic_core::ConsensusRefusal;
use psionic_core::FrameRefusal;
use psionic_core::ServingEvent;
use std::net::SocketAddr;

use harness::{Harness, addr, consensus_configs, namespace};
use psionic_core::candidates::CandidateState;
use psionic_core::consensus::{Authority, Fence, RaftMessage, SnapshotMeta};
use psionic_core::refusal::ConsensusMessageKind;
use psionic_core::serving::{Decision, DispatchMessage, StampedDecision};
use psionic_core::status::CandidateAdmission;
use psionic_core::trust::TrustBundle;
use psionic_core::wire::{Hello, Message};
use psionic_core::{Digest, NodeEpoch, NodeIdentity, NodeRole, Refusal, RefusalKind};

/// A frame from a made-up node holding the cluster's token.
fn forged(fake: u32, to: usize, counter: u64, message: Message) -> Vec<u8> {
    let mut secret = [0xee; 32];
    secret[..4].copy_from_slice(&fake.to_le_bytes());
    harness::sealed(&NodeIdentity::new(secret, NodeEpoch(1)), to, counter, message)
}

fn hello() -> Message {
    Message::Hello(Hello {
        namespace: namespace(),
        role: NodeRole::Both,
        peers: Vec::new(),
        stream_port: None,
        probe_sent_us: 0,
        genesis: None,
        binary: None,
        tokens: Vec::new(),
        // The harness cluster's bundle (trusted LAN, no allowlist): puppets hold the
        // token and say what honest nodes say.
        trust: Some(
            TrustBundle::of(
                &harness::config(0, 1).posture,
                psionic_core::NodeId([0; 16]),
                &Default::default(),
            )
            .digest(),
        ),
        key_history: Vec::new(),
    })
}

fn fake_addr(fake: u32) -> SocketAddr {
    SocketAddr::from(([10, 9, (fake >> 8) as u8, fake as u8], 7400))
}

/// A 3-voter cluster with a leader and one committed proposal; returns a follower.
fn settled() -> (Harness, usize) {
    let mut harness = Harness::new(consensus_configs(3, 3), 31);
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 1);
    harness.run_until_ms(harness.now.as_millis() + 500);
    (harness, (leader + 1) % 3)
}

fn refusals(harness: &Harness, index: usize, kind: RefusalKind) -> u64 {
    harness.nodes[index].refusals().get(kind)
}

/// After the abuse: a new proposal commits on every node, and nothing committed
/// before is lost.
fn assert_keeps_committing(harness: &mut Harness, committed_before: u64) {
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 1);
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    for node in &harness.nodes {
        assert!(node.consensus().commit_index() > committed_before);
    }
}

#[test]
fn a_flood_of_hellos_from_fresh_ids_is_capped_and_the_cluster_keeps_committing() {
    let (mut harness, follower) = settled();
    let committed = harness.nodes[follower].consensus().commit_index();
    let capacity = harness.configs[follower].discovery.non_member_senders_max as u64;
    let flood = 4 * capacity as u32;
    for fake in 0..flood {
        harness.inject(fake_addr(fake), follower, forged(fake, follower, 0, hello()));
    }
    harness.run_until_ms(harness.now.as_millis() + 100);
    assert_eq!(
        refusals(&harness, follower, RefusalKind::PeerTableFull),
        u64::from(flood) - capacity
    );
    let peers = harness.nodes[follower].discovery().peers().count() as u64;
    assert!(peers <= capacity + 2, "{peers} peers tracked");
    let refused = harness.events_of(follower).find_map(|event| match event {
        psionic_core::Event::Refused {
            refusal: Refusal::Frame(FrameRefusal::PeerTableFull { capacity: seen, .. }),
            ..
        } => Some(*seen as u64),
        _ => None,
    });
    assert_eq!(refused, Some(capacity), "the refusal names the cap");
    assert_keeps_committing(&mut harness, committed);
}

#[test]
fn vote_requests_from_non_members_are_refused_and_change_nothing() {
    let (mut harness, follower) = settled();
    let committed = harness.nodes[follower].consensus().commit_index();
    let hard_state = harness.nodes[follower].consensus().hard_state();
    let term = hard_state.term;
    let genesis = harness.nodes[follower].consensus().state().genesis.expect("a genesis");
    for (counter, pre_vote) in [(0, true), (1, false)] {
        let request = RaftMessage::VoteRequest {
            term: term + 5,
            last_log_index: 1_000,
            last_log_term: term + 4,
            pre_vote,
            transfer: true,
            genesis,
        };
        harness.inject(addr(9), follower, forged(7, follower, counter, Message::Raft(request)));
    }
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert_eq!(refusals(&harness, follower, RefusalKind::NotAMember), 2);
    let refusal = harness.events_of(follower).find_map(|event| match event {
        psionic_core::Event::Refused {
            refusal: Refusal::Consensus(ConsensusRefusal::NotAMember { message, .. }),
            ..
        } => Some(*message),
        _ => None,
    });
    assert_eq!(refusal, Some(ConsensusMessageKind::VoteRequest));
    assert_eq!(
        harness.nodes[follower].consensus().hard_state(),
        hard_state,
        "no term change, no vote"
    );
    assert_keeps_committing(&mut harness, committed);
}

#[test]
fn appends_and_snapshot_chunks_of_a_stale_term_are_refused() {
    let (mut harness, follower) = settled();
    let committed = harness.nodes[follower].consensus().commit_index();
    let last_index = harness.nodes[follower].consensus().log().last_index();
    let append = RaftMessage::Append {
        term: 0,
        prev_index: 0,
        prev_term: 0,
        entries: Default::default(),
        leader_commit: 1_000,
        genesis: harness.nodes[follower].consensus().state().genesis.expect("a genesis"),
        sent_us: 0,
    };
    let meta = SnapshotMeta {
        last_index: 1_000,
        last_term: 0,
        size_bytes: 4,
        digest: Digest([0; 32]),
        state_digest: Digest([0; 32]),
        state_schema: 0,
        genesis: None,
    };
    let chunk = RaftMessage::SnapshotChunk {
        term: 0,
        meta,
        offset: 0,
        data: vec![1, 2, 3, 4].into(),
    };
    harness.inject(addr(9), follower, forged(8, follower, 0, Message::Raft(append)));
    harness.inject(addr(9), follower, forged(8, follower, 1, Message::Raft(chunk)));
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert_eq!(refusals(&harness, follower, RefusalKind::StaleTerm), 2);
    assert_eq!(harness.nodes[follower].consensus().log().last_index(), last_index);
    assert_eq!(harness.nodes[follower].consensus().commit_index(), committed);
    assert_keeps_committing(&mut harness, committed);
}

/// A token holder outside the configuration cannot lead: its appends and snapshot
/// chunks of a newer term are refused, and the follower keeps its term and log.
#[test]
fn appends_and_snapshot_chunks_of_a_newer_term_from_a_non_voter_are_refused() {
    let (mut harness, follower) = settled();
    let committed = harness.nodes[follower].consensus().commit_index();
    let hard_state = harness.nodes[follower].consensus().hard_state();
    let last_index = harness.nodes[follower].consensus().log().last_index();
    let genesis = harness.nodes[follower].consensus().state().genesis;
    let term = hard_state.term + 3;
    let append = RaftMessage::Append {
        term,
        prev_index: last_index,
        prev_term: hard_state.term,
        entries: Default::default(),
        leader_commit: last_index,
        genesis: genesis.expect("a genesis"),
        sent_us: 0,
    };
    let meta = SnapshotMeta {
        last_index: last_index + 100,
        last_term: term,
        size_bytes: 4,
        digest: Digest([0; 32]),
        state_digest: Digest([0; 32]),
        state_schema: 0,
        genesis,
    };
    let chunk = RaftMessage::SnapshotChunk {
        term,
        meta,
        offset: 0,
        data: vec![1, 2, 3, 4].into(),
    };
    harness.inject(addr(9), follower, forged(8, follower, 0, Message::Raft(append)));
    harness.inject(addr(9), follower, forged(8, follower, 1, Message::Raft(chunk)));
    assert_eq!(refusals(&harness, follower, RefusalKind::NotAVoter), 2);
    assert_eq!(harness.nodes[follower].consensus().hard_state(), hard_state);
    assert_eq!(harness.nodes[follower].consensus().log().last_index(), last_index);
    assert_keeps_committing(&mut harness, committed);
}

/// Decisions of the current term come only from the leader the node follows: a token
/// holder's, stamped with an authority naming itself, is refused with both named.
#[test]
fn a_decision_from_another_node_than_the_leader_is_refused() {
    let (mut harness, follower) = settled();
    let committed = harness.nodes[follower].consensus().commit_index();
    let consensus = harness.nodes[follower].consensus();
    let (term, leader) = (consensus.hard_state().term, consensus.leader());
    let mut secret = [0xee; 32];
    secret[..4].copy_from_slice(&9u32.to_le_bytes());
    let impostor = NodeIdentity::new(secret, NodeEpoch(1)).node_id();
    let authority = Authority {
        cluster_id: harness::cluster_id(),
        term,
        commit_index: committed,
        fence: Fence(term),
        leader: impostor,
    };
    let stamped = StampedDecision {
        authority,
        authority_digest: authority.digest(),
        decision: Decision::Directive {
            id: 1,
            body: b"obey".to_vec(),
        },
    };
    let decision = Message::Dispatch(DispatchMessage::Decision(stamped));
    harness.inject(addr(9), follower, forged(9, follower, 0, decision));
    let refused = harness.events_of(follower).any(|event| {
        matches!(event, psionic_core::Event::Refused {
            refusal: Refusal::Consensus(ConsensusRefusal::NotOurLeader { sender, leader: followed, term: refused_term }),
            ..
        } if *sender == impostor && *followed == leader && *refused_term == term)
    });
    assert!(refused, "the decision is refused naming the leader followed");
    let accepted = harness.events_of(follower).any(|event| {
        matches!(event, psionic_core::Event::Serving(ServingEvent::DecisionAccepted { authority, .. }) if authority.leader == impostor)
    });
    assert!(!accepted);
    assert_keeps_committing(&mut harness, committed);
}

/// The ids of the ten puppets: token holders with keys of their own.
fn puppet_ids() -> Vec<psionic_core::NodeId> {
    (0..10u32)
        .map(|fake| {
            let mut secret = [0xee; 32];
            secret[..4].copy_from_slice(&(100 + fake).to_le_bytes());
            NodeIdentity::new(secret, NodeEpoch(1)).node_id()
        })
        .collect()
}

/// The ten puppets announce themselves as coordinator-capable to the leader.
fn puppets_announce(harness: &mut Harness, leader: usize) {
    for fake in 0..10u32 {
        harness.inject(fake_addr(100 + fake), leader, forged(100 + fake, leader, 0, hello()));
    }
}

/// Puppet ids claiming the coordinator role wait as candidates and are never admitted
/// (nor promoted) unless listed; listed, they join no faster than one per heartbeat.
#[test]
fn puppet_ids_are_admitted_only_when_listed_and_never_faster_than_one_a_heartbeat() {
    let puppets = puppet_ids();
    let mut harness = Harness::new(consensus_configs(3, 3), 37);
    let leader = harness.await_leader(3_000);
    puppets_announce(&mut harness, leader);
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    let members = &harness.nodes[leader].consensus().state().members;
    assert!(
        puppets.iter().all(|puppet| !members.contains_key(puppet)),
        "no puppet admitted"
    );
    let status = harness.nodes[leader].status(harness.now);
    let waiting: Vec<_> = status
        .candidates
        .iter()
        .filter(|candidate| {
            candidate.state == CandidateState::Introduced && candidate.admission == CandidateAdmission::Operator
        })
        .map(|candidate| candidate.node_id)
        .collect();
    let mut expected = puppets.clone();
    expected.sort();
    assert_eq!(waiting, expected, "every puppet waits for an operator");

    let mut configs = consensus_configs(3, 3);
    for config in &mut configs {
        config.consensus.admit_only.extend(puppets.iter().copied());
    }
    let mut harness = Harness::new(configs, 37);
    let leader = harness.await_leader(3_000);
    puppets_announce(&mut harness, leader);
    let heartbeat_ms = harness.configs[leader].consensus.heartbeat_interval_ms;
    harness.run_until_ms(harness.now.as_millis() + 3 * heartbeat_ms);
    let members = &harness.nodes[leader].consensus().state().members;
    let admitted = puppets.iter().filter(|puppet| members.contains_key(puppet)).count();
    assert!(
        (1..=4).contains(&admitted),
        "{admitted} puppets admitted in three heartbeats"
    );
    assert!(
        members.values().filter(|member| member.voter).count() == 3,
        "no puppet promoted"
    );
}

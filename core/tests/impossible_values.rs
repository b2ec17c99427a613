//! Consensus messages whose values no honest node sends (terms that would overflow,
//! appends with gaps or terms out of order), even from a member holding the token:
//! refused with the values named, and nothing changes.
//!
//! proves: D3

mod harness;

use harness::{Harness, consensus_configs};
use psionic_core::ConsensusRefusal;
use psionic_core::FrameRefusal;
use psionic_core::consensus::message::ValueFault;
use psionic_core::consensus::{Entry, EntryPayload, RaftMessage};
use psionic_core::wire::{DecodeError, Message};
use psionic_core::{NodeEpoch, NodeIdentity, Refusal};

fn settled() -> (Harness, usize, usize) {
    let mut harness = Harness::new(consensus_configs(3, 3), 43);
    let leader = harness.await_leader(3_000);
    harness.propose(leader, 3);
    harness.run_until_ms(harness.now.as_millis() + 500);
    (harness, leader, (leader + 1) % 3)
}

/// A frame as `index` would send it, far ahead in its counter.
fn from_member(index: usize, to: usize, counter: u64, message: RaftMessage) -> Vec<u8> {
    let identity = NodeIdentity::new([index as u8 + 1; 32], NodeEpoch(1));
    harness::sealed(&identity, to, 1_000_000 + counter, Message::Raft(message))
}

fn noop(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        payload: EntryPayload::Noop {
            leader: harness::node_id(0),
        }
        .into(),
    }
}

fn value_refusals(harness: &Harness, index: usize) -> Vec<ValueFault> {
    harness
        .events_of(index)
        .filter_map(|event| match event {
            psionic_core::Event::Refused {
                refusal:
                    Refusal::Frame(FrameRefusal::MalformedFrame {
                        error: DecodeError::Values { fault },
                    }),
                ..
            } => Some(*fault),
            _ => None,
        })
        .collect()
}

#[test]
fn terms_that_would_overflow_and_appends_with_gaps_are_refused_and_change_nothing() {
    let (mut harness, leader, follower) = settled();
    let before = harness.nodes[follower].consensus().hard_state();
    let last = harness.nodes[follower].consensus().log().last_index();
    let term = before.term;
    let genesis = harness.nodes[follower].consensus().state().genesis.expect("a genesis");
    let messages = [
        RaftMessage::Append {
            term: u64::MAX,
            prev_index: 0,
            prev_term: 0,
            entries: Vec::new().into(),
            leader_commit: 0,
            genesis,
            sent_us: 0,
        },
        RaftMessage::Append {
            term,
            prev_index: last,
            prev_term: term,
            entries: vec![noop(last + 2, term)].into(),
            leader_commit: 0,
            genesis,
            sent_us: 0,
        },
        RaftMessage::Append {
            term,
            prev_index: last,
            prev_term: term,
            entries: vec![noop(last + 1, term + 1)].into(),
            leader_commit: 0,
            genesis,
            sent_us: 0,
        },
        RaftMessage::VoteRequest {
            term: u64::MAX,
            last_log_index: u64::MAX,
            last_log_term: u64::MAX,
            pre_vote: false,
            transfer: true,
            genesis,
        },
    ];
    let from = harness.addrs[leader];
    for (counter, message) in messages.into_iter().enumerate() {
        harness.inject(from, follower, from_member(leader, follower, counter as u64, message));
    }
    let faults = value_refusals(&harness, follower);
    assert!(matches!(
        faults[..],
        [
            ValueFault::TermTooLarge { term: u64::MAX, .. },
            ValueFault::NotContiguous { .. },
            ValueFault::EntryTerm { .. },
            ValueFault::TermTooLarge { .. },
        ]
    ));
    assert_eq!(harness.nodes[follower].consensus().hard_state(), before);
    assert_eq!(harness.nodes[follower].consensus().log().last_index(), last);
    harness.propose(leader, 1);
    harness.run_until_ms(harness.now.as_millis() + 500);
    assert_eq!(harness.nodes[follower].consensus().log().last_index(), last + 1);
}

#[test]
fn an_acknowledgement_beyond_the_leaders_log_is_refused() {
    let (mut harness, leader, follower) = settled();
    let commit = harness.nodes[leader].consensus().commit_index();
    let report = psionic_core::backend::HeartbeatReport::default();
    let response = RaftMessage::AppendResponse {
        term: harness.nodes[leader].consensus().hard_state().term,
        success: true,
        match_index: 1_000,
        conflict_index: 0,
        last_index: 1_000,
        state_schema: psionic_core::state::STATE_SCHEMA_VERSION,
        report,
        genesis: harness.nodes[leader].consensus().state().genesis,
        echo_us: 0,
    };
    let from = harness.addrs[follower];
    harness.inject(from, leader, from_member(follower, leader, 0, response));
    let refused = harness.events_of(leader).any(|event| {
        matches!(
            event,
            psionic_core::Event::Refused {
                refusal: Refusal::Consensus(ConsensusRefusal::ImpossibleValues {
                    fault: ValueFault::MatchBeyondLog { match_index: 1_000, .. },
                    ..
                }),
                ..
            }
        )
    });
    assert!(refused);
    assert_eq!(harness.nodes[leader].consensus().commit_index(), commit);
}

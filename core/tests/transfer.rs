//! Leadership transfer (Raft dissertation §3.10): the leader waits for the target to
//! catch up before telling it to stand, and gives the transfer up after an election
//! timeout, so a lost `TimeoutNow` or a crashed target never wedges proposals.
//!
//! proves: F5

mod harness;

use harness::{Harness, consensus_configs};
use psionic_core::consensus::{ProposalRejection, RaftMessage};
use psionic_core::wire::{Message, decode_frame};

fn timeout_nows_sent(harness: &Harness) -> usize {
    harness
        .sent
        .iter()
        .filter(|packet| {
            decode_frame(&packet.bytes)
                .is_ok_and(|frame| matches!(frame.body.message, Message::Raft(RaftMessage::TimeoutNow { .. })))
        })
        .count()
}

#[test]
fn a_transfer_to_a_crashed_target_is_given_up_and_proposals_resume() {
    let mut harness = Harness::new(consensus_configs(3, 3), 71);
    let leader = harness.await_leader(3_000);
    harness.run_until_ms(harness.now.as_millis() + 300);
    let target = harness.nodes[leader]
        .transfer_leadership(harness.now)
        .expect("a target");
    let target = harness.nodes.iter().position(|node| node.node_id() == target).unwrap();
    harness.crash(target);
    assert_eq!(harness.propose_on(leader), Err(ProposalRejection::TransferInProgress));
    harness.run_until_ms(harness.now.as_millis() + 1_500);
    assert_eq!(harness.leaders(), vec![leader], "the leader keeps leading");
    let id = harness.propose_on(leader).expect("the transfer was given up");
    harness.run_until_ms(harness.now.as_millis() + 500);
    assert!(matches!(harness.outcome_of(leader, id), Some(Ok(_))));
}

#[test]
fn timeout_now_waits_until_the_target_has_caught_up() {
    let mut harness = Harness::new(consensus_configs(3, 3), 72);
    let leader = harness.await_leader(3_000);
    let lagging = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    harness.isolate(lagging);
    harness.propose(leader, 30);
    harness.run_until_ms(harness.now.as_millis() + 300);
    harness.crash(other);
    harness.heal();
    let before = timeout_nows_sent(&harness);
    let lagging_id = harness.nodes[lagging].node_id();
    let target = harness.nodes[leader]
        .transfer_leadership_to(harness.now, Some(lagging_id))
        .expect("a voter");
    assert_eq!(target, lagging_id);
    assert_eq!(
        timeout_nows_sent(&harness),
        before,
        "not before the target holds the leader's log"
    );
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert_eq!(timeout_nows_sent(&harness), before + 1);
    assert_eq!(harness.leaders(), vec![lagging], "the caught-up target took over");
}

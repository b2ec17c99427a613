//! Agreement in the style of MIT 6.824 lab 2B: no commit without a quorum, proposals
//! made at the same instant, a deposed leader rejoining with uncommitted entries, fast
//! backup over long divergent logs, and the number of frames a commit costs.
//!
//! proves: F3, F5

mod harness;

use harness::checks::{
    agreed_history, applied_indexes, assert_acknowledged_entries_kept, assert_applied_histories_agree,
    assert_live_nodes_converged, assert_no_safety_alarm, commit_one,
};
use harness::{Harness, mesh_configs};
use psionic_core::ConsensusEvent;
use psionic_core::consensus::{ProposalRejection, RaftMessage, StepDownReason};
use psionic_core::wire::{Message, decode_frame};
use psionic_core::{Event, ProposalId};

fn cluster(count: usize, seed: u64) -> Harness {
    Harness::new(mesh_configs(count), seed)
}

fn run_for(harness: &mut Harness, millis: u64) {
    harness.run_until_ms(harness.now.as_millis() + millis);
}

fn commit_index_of_all(harness: &Harness) -> Vec<u64> {
    harness
        .nodes
        .iter()
        .map(|node| node.consensus().commit_index())
        .collect()
}

/// The outcomes node `index` reported for `id`.
fn outcomes(harness: &Harness, index: usize, id: ProposalId) -> Vec<Result<u64, ProposalRejection>> {
    harness
        .events_of(index)
        .filter_map(|event| match event {
            Event::Consensus(ConsensusEvent::ProposalCommitted { id: seen, index, .. }) if *seen == id => {
                Some(Ok(*index))
            }
            Event::Consensus(ConsensusEvent::ProposalRejected { id: seen, reason }) if *seen == id => {
                Some(Err(*reason))
            }
            _ => None,
        })
        .collect()
}

/// The consensus messages in `harness.sent` from position `since` on.
fn raft_messages_since(harness: &Harness, since: usize) -> Vec<RaftMessage> {
    harness.sent[since..]
        .iter()
        .filter_map(|packet| match decode_frame(&packet.bytes).ok()?.body.message {
            Message::Raft(message) => Some(message),
            _ => None,
        })
        .collect()
}

#[test]
fn fail_no_agree_nothing_commits_without_a_quorum_and_commits_resume_after_heal() {
    // 6.824 TestFailNoAgree2B; Raft §5.3 (commit needs a majority).
    let mut harness = cluster(5, 101);
    commit_one(&mut harness, 5, 3_000);
    let leader = harness.await_leader(1_000);
    let cut: Vec<usize> = (1..=3).map(|step| (leader + step) % 5).collect();
    for index in &cut {
        harness.isolate(*index);
    }
    let commits_before = commit_index_of_all(&harness);
    let lonely = harness.propose_on(leader).expect("the leader still believes it leads");
    run_for(&mut harness, 3_000);
    assert_eq!(
        commit_index_of_all(&harness),
        commits_before,
        "nothing commits on 2 of 5"
    );
    assert_eq!(outcomes(&harness, leader, lonely), [], "no outcome while cut off");
    assert!(harness.events_of(leader).any(|event| matches!(
        event,
        Event::Consensus(ConsensusEvent::SteppedDown {
            reason: StepDownReason::LostQuorum { .. },
            ..
        })
    )));
    harness.heal();
    let resumed = commit_one(&mut harness, 5, 5_000);
    assert!(resumed > commits_before[leader]);
    run_for(&mut harness, 500);
    assert_eq!(
        outcomes(&harness, leader, lonely).len(),
        1,
        "the cut-off proposal gets exactly one outcome once healed"
    );
    assert_applied_histories_agree(&harness);
    assert_acknowledged_entries_kept(&harness);
    assert_live_nodes_converged(&harness);
}

#[test]
fn concurrent_starts_each_get_one_outcome_and_apply_in_one_order_everywhere() {
    // 6.824 TestConcurrentStarts2B; Raft §5.3 (one log order).
    let mut harness = cluster(3, 102);
    let leader = harness.await_leader(3_000);
    run_for(&mut harness, 300);
    // Every node is asked at the same instant, five times over, before any delivery.
    let mut proposals: Vec<(usize, ProposalId)> = Vec::new();
    for _ in 0..5 {
        for index in 0..3 {
            let count = if index == leader { 2 } else { 1 };
            proposals.extend(harness.propose(index, count).into_iter().map(|id| (index, id)));
        }
    }
    run_for(&mut harness, 1_000);
    let mut indexes = std::collections::BTreeSet::new();
    for (index, id) in &proposals {
        match (outcomes(&harness, *index, *id).as_slice(), *index == leader) {
            ([Ok(at)], true) => assert!(indexes.insert(*at), "two proposals at index {at}"),
            ([Err(ProposalRejection::NotLeader { leader_hint })], false) => {
                assert_eq!(*leader_hint, Some(harness.nodes[leader].node_id()));
            }
            (other, _) => panic!("proposal {id:?} on node {index} had outcomes {other:?}"),
        }
    }
    assert_eq!(indexes.len(), 10, "the leader's ten proposals committed");
    let last = *agreed_history(&harness).keys().last().unwrap();
    for index in 0..3 {
        assert_eq!(
            applied_indexes(&harness, index),
            (1..=last).collect::<Vec<_>>(),
            "node {index} applied every index once, in order"
        );
    }
    assert_acknowledged_entries_kept(&harness);
}

#[test]
fn rejoin_a_deposed_leaders_uncommitted_entries_are_overwritten_without_a_split() {
    // 6.824 TestRejoin2B; Raft §5.3 (a follower's conflicting entries are overwritten)
    // and §5.4.1 (the stale leader's longer log of an older term cannot win).
    let mut harness = cluster(3, 103);
    commit_one(&mut harness, 3, 3_000);
    let leader1 = harness.await_leader(1_000);
    let old_term = harness.nodes[leader1].consensus().hard_state().term;
    harness.isolate(leader1);
    let stale: Vec<ProposalId> = (0..3)
        .map(|_| harness.propose_on(leader1).expect("still believes it leads"))
        .collect();
    run_for(&mut harness, 2_000);
    assert!(!harness.leaders().contains(&leader1), "the cut-off leader stepped down");
    commit_one(&mut harness, 2, 3_000);
    let leader2 = harness.await_leader(1_000);
    assert_ne!(leader2, leader1);
    harness.heal();
    harness.isolate(leader2);
    commit_one(&mut harness, 2, 5_000);
    harness.heal();
    commit_one(&mut harness, 3, 5_000);
    for id in &stale {
        match outcomes(&harness, leader1, *id).as_slice() {
            [Err(ProposalRejection::Superseded { term, .. })] => assert!(*term > old_term),
            other => panic!("stale proposal {id:?}: {other:?}"),
        }
    }
    assert_eq!(harness.leaders().len(), 1);
    assert_no_safety_alarm(&harness);
    assert_applied_histories_agree(&harness);
    assert_acknowledged_entries_kept(&harness);
    assert_live_nodes_converged(&harness);
}

/// Rejected appends answered by each node in `harness.sent` from `since` on.
fn append_rejections_since(harness: &Harness, since: usize) -> Vec<usize> {
    let mut rejections = vec![0; harness.nodes.len()];
    for packet in &harness.sent[since..] {
        let Some(from) = harness.index_of(packet.from) else {
            continue;
        };
        if let Ok(frame) = decode_frame(&packet.bytes)
            && matches!(
                frame.body.message,
                Message::Raft(RaftMessage::AppendResponse { success: false, .. })
            )
        {
            rejections[from] += 1;
        }
    }
    rejections
}

/// Proposes `count` separate proposals on `leader` and runs until they are settled.
fn committed_outcomes(harness: &mut Harness, leader: usize, count: usize) -> usize {
    let ids: Vec<ProposalId> = (0..count).filter_map(|_| harness.propose_on(leader).ok()).collect();
    run_for(harness, 1_000);
    ids.iter()
        .filter(|id| matches!(harness.outcome_of(leader, **id), Some(Ok(_))))
        .count()
}

#[test]
fn backup_a_leader_brings_back_long_divergent_logs_in_a_few_rejections() {
    // 6.824 TestBackup2B; Raft §5.3 (the optimisation of backing up a term at a time).
    let mut harness = cluster(5, 104);
    commit_one(&mut harness, 5, 3_000);
    let leader1 = harness.await_leader(1_000);
    let partner = (leader1 + 1) % 5;
    let others: Vec<usize> = (2..5).map(|step| (leader1 + step) % 5).collect();
    harness.partition(&[leader1, partner], &others);
    let doomed1: Vec<ProposalId> = (0..50).filter_map(|_| harness.propose_on(leader1).ok()).collect();
    assert_eq!(doomed1.len(), 50);
    run_for(&mut harness, 2_000);
    let leader2 = *harness
        .leaders()
        .iter()
        .find(|index| others.contains(index))
        .expect("majority leads");
    assert_eq!(committed_outcomes(&mut harness, leader2, 50), 50);
    let other = *others.iter().find(|index| **index != leader2).unwrap();
    let third = *others.iter().find(|index| ![leader2, other].contains(index)).unwrap();
    harness.isolate(other);
    let doomed2: Vec<ProposalId> = (0..50).filter_map(|_| harness.propose_on(leader2).ok()).collect();
    assert_eq!(doomed2.len(), 50);
    run_for(&mut harness, 2_000);
    // The first leader's side comes back with `other`, which holds the committed 50.
    harness.heal();
    harness.isolate(leader2);
    harness.isolate(third);
    let rejoin_sent = harness.sent.len();
    run_for(&mut harness, 2_000);
    let leader3 = harness.await_leader(2_000);
    assert_eq!(leader3, other, "only `other` holds every committed entry");
    assert_eq!(committed_outcomes(&mut harness, leader3, 50), 50);
    let rejoined = append_rejections_since(&harness, rejoin_sent);
    assert!(rejoined[leader1] >= 1, "leader1's 50 entries were refused and replaced");
    assert!(rejoined[leader1] <= 3 && rejoined[partner] <= 3, "{rejoined:?}");
    harness.heal();
    let healed_sent = harness.sent.len();
    let healed_at = harness.now.as_millis();
    commit_one(&mut harness, 5, 2_000);
    assert!(
        harness.now.as_millis() - healed_at <= 1_000,
        "everyone back within a second"
    );
    let healed = append_rejections_since(&harness, healed_sent);
    assert!(healed[leader2] >= 1, "leader2's 50 entries were refused and replaced");
    assert!(healed.iter().all(|count| *count <= 3), "{healed:?}");
    for (node, id) in doomed1
        .iter()
        .map(|id| (leader1, id))
        .chain(doomed2.iter().map(|id| (leader2, id)))
    {
        assert!(matches!(
            outcomes(&harness, node, *id).as_slice(),
            [Err(ProposalRejection::Superseded { .. })]
        ));
    }
    assert_no_safety_alarm(&harness);
    assert_applied_histories_agree(&harness);
    assert_acknowledged_entries_kept(&harness);
    assert_live_nodes_converged(&harness);
}

#[test]
fn count_a_commit_costs_a_bounded_number_of_consensus_frames() {
    // 6.824 TestCount2B: an election, each commit and an idle second cost a bounded
    // number of messages (here frames, a request and its answer counting two).
    let mut harness = cluster(3, 105);
    let leader = harness.await_leader(3_000);
    let election = raft_messages_since(&harness, 0).len();
    assert!(election <= 30, "{election} frames to elect a leader");
    run_for(&mut harness, 300);
    const PROPOSALS: usize = 20;
    let before = harness.sent.len();
    for _ in 0..PROPOSALS {
        let id = harness.propose_on(leader).expect("the leader takes it");
        run_for(&mut harness, 10);
        assert!(matches!(harness.outcome_of(leader, id), Some(Ok(_))));
    }
    let per_commit = raft_messages_since(&harness, before);
    // One append and one answer per follower is 4 frames a commit, plus heartbeats.
    assert!(per_commit.len() >= 4 * PROPOSALS, "{} frames", per_commit.len());
    assert!(
        per_commit.len() <= 6 * (PROPOSALS + 4),
        "{} frames for {PROPOSALS} commits",
        per_commit.len()
    );
    let idle_from = harness.sent.len();
    run_for(&mut harness, 1_000);
    let idle = raft_messages_since(&harness, idle_from).len();
    // A heartbeat every 100 ms to two followers, answered: 40 frames a second.
    assert!(idle <= 60, "{idle} frames in an idle second");
    assert_live_nodes_converged(&harness);
}

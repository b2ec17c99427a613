//! The lease ends before any other leader can be elected: stale answers do not renew
//! it, a transfer ends it, and a restarted voter does not cut it short.

use super::{consensus, entry, id, lead_with_matches, vote};
use crate::consensus::{Effect, RaftMessage, Role};
use crate::time::Instant;

fn granted(effects: impl Iterator<Item = Effect>) -> bool {
    effects.into_iter().any(|effect| {
        matches!(
            effect,
            Effect::Send {
                message: RaftMessage::VoteResponse { granted: true, .. },
                ..
            }
        )
    })
}

#[test]
fn an_answer_to_an_append_of_an_earlier_leadership_renews_no_lease() {
    let mut leader = consensus(3, vec![entry(1, 1)], 6);
    lead_with_matches(&mut leader, &[(2, 1), (3, 1)]);
    let Role::Leader(leadership) = &mut leader.role else {
        unreachable!()
    };
    leadership.since = Instant::from_millis(5_000);
    leadership.sent_stamp_us = Instant::from_millis(5_001).as_micros();
    let now = Instant::from_millis(5_010);
    leader.note_heard(id(3), Instant::from_millis(4_000).as_micros());
    assert_eq!(leader.lease_start(now), None, "an echo from before this leadership");
    leader.note_heard(id(3), Instant::from_millis(5_001).as_micros());
    assert_eq!(leader.lease_start(now), Some(Instant::from_millis(5_001)));
    assert!(leader.holds_lease(now));
}

#[test]
fn a_transfer_that_told_its_target_to_stand_ends_the_lease() {
    let mut leader = consensus(3, vec![entry(1, 1)], 2);
    lead_with_matches(&mut leader, &[(2, 1), (3, 1)]);
    let now = Instant::from_millis(10);
    let stamp = leader.next_send_stamp(now).unwrap();
    leader.note_heard(id(2), stamp);
    assert!(leader.holds_lease(now));
    leader.transfer_leadership(now, Some(id(2))).unwrap();
    assert!(!leader.holds_lease(now), "the target was caught up and told to stand");
}

#[test]
fn a_voter_grants_no_vote_for_the_election_timeout_floor_after_it_starts() {
    let mut voter = consensus(3, vec![entry(1, 1)], 1);
    voter.on_vote_request(Instant::from_millis(100), id(2), vote(2, 1, 1));
    assert!(
        !granted(voter.drain_effects()),
        "it may have followed a leader whose lease holds"
    );
    voter.on_vote_request(Instant::from_millis(600), id(2), vote(2, 1, 1));
    assert!(granted(voter.drain_effects()));
}

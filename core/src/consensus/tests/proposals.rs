//! What a leader refuses at proposal, each with its typed reason.

use super::{consensus, entry, id, lead_with_matches};
use crate::consensus::ConsensusEvent;
use crate::consensus::{Consensus, Effect, ProposalRejection};
use crate::limits::ENTRY_BYTES_MAX;
use crate::state::{ApplyRefusal, ClusterCommand};
use crate::time::Instant;

fn rejections(consensus: &mut Consensus) -> Vec<ProposalRejection> {
    consensus
        .drain_effects()
        .filter_map(|effect| match effect {
            Effect::Event(ConsensusEvent::ProposalRejected { reason, .. }) => Some(reason),
            _ => None,
        })
        .collect()
}

/// A leader of term 2 over three voters whose own first entry (index 2) is committed.
fn settled_leader() -> Consensus {
    let mut leader = consensus(3, vec![entry(1, 1), entry(2, 2)], 2);
    lead_with_matches(&mut leader, &[(2, 2), (3, 2)]);
    leader.advance_commit(Instant::ZERO);
    assert_eq!(leader.commit_index(), 2);
    leader.drain_effects().for_each(drop);
    leader
}

#[test]
fn no_voter_change_before_the_leader_commits_an_entry_of_its_term() {
    // The 2015 correction to single-server changes: an entry of the leader's own term
    // must commit before it changes the voter set.
    let mut leader = consensus(3, vec![entry(1, 1), entry(2, 2)], 2);
    lead_with_matches(&mut leader, &[(2, 0), (3, 0)]);
    leader.propose(
        Instant::ZERO,
        super::as_operator(vec![ClusterCommand::RemoveMember { node: id(3) }]),
    );
    assert_eq!(
        rejections(&mut leader),
        [ProposalRejection::LeaderTermUncommitted {
            term: 2,
            commit_index: 0
        }]
    );
    let policy = ClusterCommand::SetPolicy {
        name: "p".into(),
        document: vec![1],
    };
    leader.propose(Instant::ZERO, super::as_operator(vec![policy]));
    assert_eq!(rejections(&mut leader), [], "other commands are taken");
    assert_eq!(leader.log().last_index(), 3);
}

#[test]
fn a_second_voter_change_waits_for_the_first_to_commit() {
    let mut leader = settled_leader();
    leader.propose(
        Instant::ZERO,
        super::as_operator(vec![ClusterCommand::RemoveMember { node: id(3) }]),
    );
    leader.propose(
        Instant::ZERO,
        super::as_operator(vec![ClusterCommand::RemoveMember { node: id(2) }]),
    );
    assert_eq!(
        rejections(&mut leader),
        [ProposalRejection::ConfigChangePending { index: 3 }]
    );
    lead_with_matches(&mut leader, &[(2, 3)]);
    leader.advance_commit(Instant::ZERO);
    assert_eq!(leader.commit_index(), 3);
    leader.propose(
        Instant::ZERO,
        super::as_operator(vec![ClusterCommand::RemoveMember { node: id(2) }]),
    );
    assert_eq!(rejections(&mut leader), [], "taken once the first is committed");
}

#[test]
fn commands_are_checked_against_the_members_the_whole_log_implies() {
    let mut leader = settled_leader();
    let stranger = id(9);
    let commands = vec![
        ClusterCommand::RemoveMember { node: stranger },
        ClusterCommand::AdmitMember {
            node: stranger,
            role: crate::identity::NodeRole::Both,
            stream_addr: None,
        },
        ClusterCommand::AdmitMember {
            node: stranger,
            role: crate::identity::NodeRole::Both,
            stream_addr: None,
        },
        ClusterCommand::SetMemberStatus {
            node: stranger,
            status: crate::state::MemberStatus::Draining,
        },
        ClusterCommand::SetPolicy {
            name: String::new(),
            document: vec![],
        },
    ];
    leader.propose(Instant::ZERO, super::as_operator(commands));
    assert_eq!(
        rejections(&mut leader),
        [
            ProposalRejection::Invalid {
                refusal: ApplyRefusal::NotAMember { node: stranger }
            },
            ProposalRejection::Invalid {
                refusal: ApplyRefusal::AlreadyAMember { node: stranger }
            },
            ProposalRejection::Invalid {
                refusal: ApplyRefusal::PolicyName { len: 0, max: 64 }
            },
        ],
        "the admission earlier in the batch counts for the commands after it"
    );
    assert_eq!(leader.log().last_index(), 4, "two of five appended");
}

#[test]
fn a_command_whose_entry_would_not_fit_a_frame_is_refused_with_the_limit() {
    let mut leader = settled_leader();
    let command = |len| ClusterCommand::SetPolicy {
        name: "big".into(),
        document: vec![7; len],
    };
    leader.propose(Instant::ZERO, super::as_operator(vec![command(ENTRY_BYTES_MAX)]));
    let refused = rejections(&mut leader);
    assert!(
        matches!(refused[..], [ProposalRejection::TooLarge { bytes, limit: ENTRY_BYTES_MAX }] if bytes > ENTRY_BYTES_MAX),
        "{refused:?}"
    );
    leader.propose(Instant::ZERO, super::as_operator(vec![command(ENTRY_BYTES_MAX - 200)]));
    assert_eq!(rejections(&mut leader), [], "one just under the limit is taken");
}

//! Proposals sent to a node that does not lead are forwarded to the leader and
//! answered where they were sent, once applied there; every one gets exactly one
//! outcome, and an unanswered one is reported unknown, never refused.
//!
//! proves: F3

mod harness;

use harness::{Harness, consensus_configs};
use psionic_core::ConsensusEvent;
use psionic_core::ConsensusRefusal;
use psionic_core::consensus::{EntryPayload, ProposalRejection, RaftMessage};
use psionic_core::state::{ApplyRefusal, Origin, Proposal, ProposalId};
use psionic_core::{ClusterCommand, Event, NodeId};

fn policy(name: &str) -> ClusterCommand {
    ClusterCommand::SetPolicy {
        name: name.into(),
        document: name.as_bytes().to_vec(),
    }
}

/// Proposes `commands` at node `index` as its local operator, through the leader.
fn through_leader(harness: &mut Harness, index: usize, commands: Vec<ClusterCommand>) -> Vec<ProposalId> {
    let local = |command: ClusterCommand| {
        (
            Origin::operator(psionic_core::state::LOCAL_CREDENTIAL, &command),
            command,
        )
    };
    let commands = commands.into_iter().map(local).collect();
    let now = harness.now;
    let ids = harness.nodes[index].propose_through_leader(now, commands);
    harness.run_until_ms(harness.now.as_millis());
    ids
}

fn outcomes(harness: &Harness, index: usize, id: ProposalId) -> Vec<Event> {
    let matching = harness.events_of(index).filter(|event| match event {
        Event::Consensus(ConsensusEvent::ProposalCommitted { id: seen, .. })
        | Event::Consensus(ConsensusEvent::ProposalRejected { id: seen, .. }) => *seen == id,
        _ => false,
    });
    matching.cloned().collect()
}

/// The proposal at `index` of node `node`'s log.
fn proposal_at(harness: &Harness, node: usize, index: u64) -> Proposal {
    let entry = harness.nodes[node]
        .consensus()
        .log()
        .get(index)
        .expect("an entry there");
    match &*entry.payload {
        EntryPayload::Proposal(proposal) => proposal.clone(),
        other => panic!("a proposal at {index}, not {other:?}"),
    }
}

#[test]
fn a_command_sent_to_a_follower_commits_through_the_leader_and_is_answered_there_once_applied() {
    let mut harness = Harness::new(consensus_configs(3, 3), 31);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 1) % 3;
    let ids = through_leader(&mut harness, follower, vec![policy("forwarded")]);
    harness.run_until_ms(harness.now.as_millis() + 500);
    let outcome = outcomes(&harness, follower, ids[0]);
    let [
        Event::Consensus(ConsensusEvent::ProposalCommitted {
            index, refusal: None, ..
        }),
    ] = outcome[..]
    else {
        panic!("one commit reported where it was sent: {outcome:?}");
    };
    let applied = harness.nodes[follower].consensus().state();
    assert!(applied.applied_index >= index && applied.policies.contains_key("forwarded"));
    let proposal = proposal_at(&harness, leader, index);
    assert_eq!(proposal.id, ids[0], "the leader appended it under the follower's id");
    assert_eq!(proposal.id.node, harness.nodes[follower].node_id());
    assert!(
        matches!(proposal.origin, Origin::Operator { .. }),
        "its operator origin is kept"
    );
    assert_eq!(
        outcomes(&harness, leader, ids[0]),
        [],
        "the leader reports nothing of it"
    );
}

#[test]
fn each_forwarded_proposal_of_a_batch_gets_its_own_outcome() {
    let mut harness = Harness::new(consensus_configs(3, 3), 33);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 2) % 3;
    let stranger = NodeId([0xee; 16]);
    let invalid = ClusterCommand::RemoveMember { node: stranger };
    let ids = through_leader(&mut harness, follower, vec![policy("one"), invalid, policy("two")]);
    harness.run_until_ms(harness.now.as_millis() + 500);
    let rejected = outcomes(&harness, follower, ids[1]);
    assert!(
        matches!(
            rejected[..],
            [Event::Consensus(ConsensusEvent::ProposalRejected {
                reason: ProposalRejection::Invalid {
                    refusal: ApplyRefusal::NotAMember { .. }
                },
                ..
            })]
        ),
        "the leader's check travels back: {rejected:?}"
    );
    for id in [ids[0], ids[2]] {
        let committed = outcomes(&harness, follower, id);
        assert!(
            matches!(
                committed[..],
                [Event::Consensus(ConsensusEvent::ProposalCommitted {
                    refusal: None,
                    ..
                })]
            ),
            "{committed:?}"
        );
    }
}

#[test]
fn a_proposal_whose_leader_was_cut_away_before_it_answered_ends_unanswered_not_refused() {
    let mut harness = Harness::new(consensus_configs(3, 3), 35);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 1) % 3;
    harness.isolate(leader);
    let ids = through_leader(&mut harness, follower, vec![policy("lost")]);
    assert_eq!(
        outcomes(&harness, follower, ids[0]),
        [],
        "waiting for the leader's answer"
    );
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    let leader_id = harness.nodes[leader].node_id();
    assert_eq!(
        outcomes(&harness, follower, ids[0]),
        [Event::Consensus(ConsensusEvent::ProposalRejected {
            id: ids[0],
            reason: ProposalRejection::ForwardUnanswered { leader: leader_id }
        })],
        "once another leader took over, the outcome is unknown"
    );
}

#[test]
fn a_proposal_the_leader_never_answers_ends_unanswered_within_the_bound() {
    let mut harness = Harness::new(consensus_configs(3, 3), 36);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 1) % 3;
    harness.block_one_way(follower, leader);
    let ids = through_leader(&mut harness, follower, vec![policy("dropped")]);
    let bound_ms = psionic_core::limits::FORWARD_ANSWER_WITHIN_MS;
    harness.run_until_ms(harness.now.as_millis() + bound_ms - 500);
    assert_eq!(outcomes(&harness, follower, ids[0]), [], "still within the bound");
    assert_eq!(harness.leaders(), [leader], "the same leader throughout");
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    let leader_id = harness.nodes[leader].node_id();
    assert_eq!(
        outcomes(&harness, follower, ids[0]),
        [Event::Consensus(ConsensusEvent::ProposalRejected {
            id: ids[0],
            reason: ProposalRejection::ForwardUnanswered { leader: leader_id }
        })]
    );
}

#[test]
fn with_no_leader_known_a_proposal_is_rejected_not_leader() {
    let mut harness = Harness::new(consensus_configs(3, 3), 37);
    let ids = through_leader(&mut harness, 0, vec![policy("early")]);
    assert!(matches!(
        outcomes(&harness, 0, ids[0])[..],
        [Event::Consensus(ConsensusEvent::ProposalRejected {
            reason: ProposalRejection::NotLeader { leader_hint: None },
            ..
        })]
    ));
}

/// Forwards `proposal` to `leader` as node `sender` would; whether the leader refused it
/// as forwarded in `proposer`'s name.
fn forwarded_for_another(
    harness: &mut Harness,
    sender: usize,
    leader: usize,
    proposal: Proposal,
    proposer: NodeId,
) -> bool {
    let forward = RaftMessage::Forward {
        proposals: vec![proposal],
    };
    let identity = harness.configs[sender].identity.clone();
    let message = psionic_core::wire::Message::Raft(forward);
    let frame = harness::sealed(&identity, leader, u64::MAX / 2, message);
    harness.inject(harness::addr(sender), leader, frame);
    harness.events_of(leader).any(|event| {
        matches!(event, Event::Refused {
            refusal: psionic_core::Refusal::Consensus(ConsensusRefusal::ForwardedForAnother { proposer: named, .. }),
            ..
        } if *named == proposer)
    })
}

#[test]
fn a_voter_forwarding_under_another_nodes_id_is_refused() {
    let mut harness = Harness::new(consensus_configs(3, 3), 39);
    let leader = harness.await_leader(3_000);
    let (sender, victim) = ((leader + 1) % 3, (leader + 2) % 3);
    let id = ProposalId {
        node: harness.nodes[victim].node_id(),
        epoch: psionic_core::NodeEpoch(1),
        seq: 0,
    };
    let command = policy("forged");
    let origin = Origin::operator(psionic_core::state::LOCAL_CREDENTIAL, &command);
    let proposal = Proposal {
        id,
        origin,
        command: command.into(),
    };
    let refused = forwarded_for_another(&mut harness, sender, leader, proposal, id.node);
    assert!(refused, "a voter forwards only proposals it minted");
    harness.run_until_ms(harness.now.as_millis() + 500);
    let state = harness.nodes[leader].consensus().state();
    assert!(!state.policies.contains_key("forged"));
}

#[test]
fn a_voter_forwarding_in_another_members_name_is_refused() {
    let mut harness = Harness::new(consensus_configs(3, 3), 40);
    let leader = harness.await_leader(3_000);
    let (sender, victim) = ((leader + 1) % 3, (leader + 2) % 3);
    let victim_id = harness.nodes[victim].node_id();
    let proposal = Proposal {
        id: ProposalId {
            node: harness.nodes[sender].node_id(),
            epoch: psionic_core::NodeEpoch(1),
            seq: 1_000,
        },
        origin: Origin::Member { node: victim_id },
        command: policy("in-anothers-name").into(),
    };
    let refused = forwarded_for_another(&mut harness, sender, leader, proposal, victim_id);
    assert!(refused, "a voter forwards only an operator's command or its own report");
}

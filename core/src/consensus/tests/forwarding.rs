//! Forwarded proposals whose leader lost them: each still gets exactly one outcome,
//! even when another leader gives a later proposal the same index.

use super::{as_operator, consensus, entry, id};
use crate::consensus::ConsensusEvent;
use crate::consensus::{Consensus, Effect, EntryPayload, ProposalRejection, RaftMessage};
use crate::state::{ClusterCommand, Proposal, ProposalId};
use crate::time::Instant;

fn policy(name: &str) -> ClusterCommand {
    ClusterCommand::SetPolicy {
        name: name.into(),
        document: Vec::new(),
    }
}

/// An append from `leader` of `term` carrying `entries` after index 10.
fn append(
    node: &mut Consensus,
    now: Instant,
    leader: u8,
    term: u64,
    entries: Vec<crate::consensus::Entry>,
    commit: u64,
) {
    let (prev_index, prev_term) = match entries.first() {
        Some(first) => (first.index - 1, node.log().term_at(first.index - 1).unwrap_or(0)),
        None => (node.log().last_index(), node.log().last_term()),
    };
    let message = RaftMessage::Append {
        term,
        prev_index,
        prev_term,
        entries: entries.into(),
        leader_commit: commit,
        genesis: node.state().genesis.expect("a genesis"),
        sent_us: now.as_micros(),
    };
    node.step(now, id(leader), message);
}

fn outcomes(node: &mut Consensus) -> Vec<ConsensusEvent> {
    node.drain_effects()
        .filter_map(|effect| match effect {
            Effect::Event(
                event @ (ConsensusEvent::ProposalCommitted { .. } | ConsensusEvent::ProposalRejected { .. }),
            ) => Some(event),
            _ => None,
        })
        .collect()
}

#[test]
fn proposals_a_lost_leader_took_end_superseded_when_another_leader_reuses_their_indexes() {
    let mut node = consensus(3, (1..=10).map(|index| entry(index, 1)).collect(), 1);
    let genesis_commit = 10;
    append(&mut node, Instant::from_millis(1), 2, 1, Vec::new(), genesis_commit);
    assert_eq!(node.leader(), Some(id(2)));
    let now = Instant::from_millis(2);
    let taken = node.propose_or_forward(now, as_operator(vec![policy("a"), policy("b")]));
    for (id_taken, index) in taken.iter().zip([11, 12]) {
        node.step(now, id(2), RaftMessage::ForwardTaken { id: *id_taken, index });
    }
    assert_eq!(outcomes(&mut node), [], "taken, not committed");

    // Leader 2 dies with 11 and 12; leader 3 of term 2 writes its no-op at 11 and takes
    // this node's next proposal at 12.
    append(&mut node, Instant::from_millis(600), 3, 2, vec![noop(11, 2)], 10);
    let later = Instant::from_millis(601);
    let c = node.propose_or_forward(later, as_operator(vec![policy("c")]))[0];
    node.step(later, id(3), RaftMessage::ForwardTaken { id: c, index: 12 });
    let proposal = Proposal {
        id: c,
        command: policy("c").into(),
        origin: crate::state::Origin::operator("ops", &policy("c")),
    };
    let at_12 = crate::consensus::Entry {
        index: 12,
        term: 2,
        payload: EntryPayload::Proposal(proposal).into(),
    };
    append(&mut node, Instant::from_millis(602), 3, 2, vec![at_12], 12);
    let superseded = |id: ProposalId, index: u64| ConsensusEvent::ProposalRejected {
        id,
        reason: ProposalRejection::Superseded { index, term: 2 },
    };
    let mut seen = outcomes(&mut node);
    seen.sort_by_key(|event| format!("{event:?}"));
    let mut expected = vec![
        superseded(taken[0], 11),
        superseded(taken[1], 12),
        ConsensusEvent::ProposalCommitted {
            id: c,
            index: 12,
            refusal: None,
        },
    ];
    expected.sort_by_key(|event| format!("{event:?}"));
    assert_eq!(seen, expected, "one outcome each");
}

fn noop(index: u64, term: u64) -> crate::consensus::Entry {
    crate::consensus::Entry {
        index,
        term,
        payload: EntryPayload::Noop { leader: id(3) }.into(),
    }
}

//! The serving policy is a typed command, checked by the leader before it appends it
//! and by every node when it applies it: a policy no node could serve under is refused
//! with the problem named, `set-policy "serving"` is refused (only the typed command
//! sets it), and what the state has in force is the policy committed or the defaults.
//!
//! proves: F8

mod harness;

use harness::{Harness, consensus_configs, node_id};
use psionic_core::consensus::{EntryPayload, ProposalRejection};
use psionic_core::plan::{QueueDiscipline, ServingPolicy, ServingPolicyProblem};
use psionic_core::state::{ApplyRefusal, ClusterEvent, ClusterState, Origin, Proposal, SERVING_POLICY_FACT};
use psionic_core::{ClusterCommand, NodeEpoch, NodeRole, ProposalId};

/// Serving policies no node could serve under, and why.
fn unservable() -> Vec<(ClusterCommand, ServingPolicyProblem)> {
    let no_queue = ServingPolicy {
        queue_depth_max: 0,
        ..ServingPolicy::default()
    };
    let no_classes = ServingPolicy {
        discipline: QueueDiscipline::Priority { classes: 0 },
        ..ServingPolicy::default()
    };
    let untyped = ClusterCommand::SetPolicy {
        name: "serving".into(),
        document: vec![1, 2, 3],
    };
    vec![
        (
            ClusterCommand::SetServingPolicy { policy: no_queue },
            ServingPolicyProblem::NoQueue,
        ),
        (
            ClusterCommand::SetServingPolicy { policy: no_classes },
            ServingPolicyProblem::NoPriorityClasses,
        ),
        (untyped, ServingPolicyProblem::NotTyped),
    ]
}

#[test]
fn the_leader_refuses_an_unservable_or_untyped_serving_policy_and_commits_a_good_one() {
    let mut harness = Harness::new(consensus_configs(3, 3), 21);
    let leader = harness.await_leader(3_000);
    for (command, problem) in unservable() {
        let id = harness.nodes[leader].propose(harness.now, command);
        harness.run_until_ms(harness.now.as_millis() + 1);
        let refusal = ApplyRefusal::ServingPolicy { problem };
        assert_eq!(
            harness.outcome_of(leader, id),
            Some(Err(ProposalRejection::Invalid { refusal }))
        );
    }
    let state = harness.nodes[leader].consensus().state();
    assert_eq!(
        ServingPolicy::from_state(state),
        ServingPolicy::default(),
        "none committed"
    );
    let policy = ServingPolicy {
        reroute_lost: false,
        ..ServingPolicy::default()
    };
    let id = harness.nodes[leader].propose(harness.now, ClusterCommand::SetServingPolicy { policy });
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    let index = harness.outcome_of(leader, id).unwrap().unwrap();
    for node in &harness.nodes {
        let state = node.consensus().state();
        assert_eq!(ServingPolicy::from_state(state), policy);
        assert_eq!(state.set_by[SERVING_POLICY_FACT].index, index);
    }
}

#[test]
fn an_unservable_policy_a_faulty_leader_let_through_is_refused_alike_on_every_node() {
    let voters: Vec<_> = (0..3).map(|index| (node_id(index), NodeRole::Both)).collect();
    let mut states = vec![ClusterState::genesis(&voters); 3];
    for (seq, (command, problem)) in unservable().into_iter().enumerate() {
        let index = seq as u64 + 1;
        let id = ProposalId {
            node: node_id(0),
            epoch: NodeEpoch(1),
            seq: index,
        };
        let origin = Origin::operator(psionic_core::state::LOCAL_CREDENTIAL, &command);
        let payload = EntryPayload::Proposal(Proposal {
            id,
            command: command.into(),
            origin,
        });
        for state in &mut states {
            let event = state.apply(index, 1, &payload).unwrap();
            let refusal = ApplyRefusal::ServingPolicy { problem };
            assert!(
                matches!(event, ClusterEvent::Refused { refusal: got, .. } if got == refusal),
                "{event:?}"
            );
            assert_eq!(state.serving_policy, None);
        }
        assert!(states.iter().all(|state| state.digest() == states[0].digest()));
    }
}

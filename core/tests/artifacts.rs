//! A node reports its own artifacts' residency through its leader, from what its disk
//! holds; nobody else's report is needed.
//!
//! proves: F7

mod harness;

use std::collections::BTreeMap;

use harness::{Harness, consensus_configs};
use psionic_core::state::Residency;
use psionic_core::{Digest, DigestKind};

fn model(byte: u8) -> Digest {
    Digest::of_bytes(DigestKind::Output, &[byte])
}

fn recorded(harness: &Harness, on: usize, about: usize) -> BTreeMap<Digest, Residency> {
    let node = harness.nodes[about].node_id();
    harness.nodes[on]
        .consensus()
        .state()
        .residency
        .get(&node)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_follower_reports_what_its_disk_holds_and_what_it_no_longer_holds() {
    let mut harness = Harness::new(consensus_configs(3, 3), 4);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 1) % 3;
    let now = harness.now;
    let held = BTreeMap::from([(model(1), Residency::Resident), (model(2), Residency::Failed)]);
    harness.nodes[follower].hold_artifacts(now, held.clone());
    harness.run_until_ms(harness.now.as_millis() + 500);
    for on in 0..3 {
        assert_eq!(
            recorded(&harness, on, follower),
            held,
            "node {on} applied the follower's reports"
        );
    }
    assert!(
        recorded(&harness, leader, leader).is_empty(),
        "only the reporter's facts changed"
    );
    // The file is deleted: the disk holds only the failed copy now.
    let now = harness.now;
    harness.nodes[follower].hold_artifacts(now, BTreeMap::from([(model(2), Residency::Failed)]));
    harness.run_until_ms(harness.now.as_millis() + 500);
    let expected = BTreeMap::from([(model(1), Residency::Evicted), (model(2), Residency::Failed)]);
    assert_eq!(recorded(&harness, leader, follower), expected);
}

#[test]
fn a_report_lost_with_its_leader_is_made_again_to_the_next() {
    let mut harness = Harness::new(consensus_configs(3, 3), 9);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 1) % 3;
    harness.isolate(leader);
    let now = harness.now;
    harness.nodes[follower].hold_artifacts(now, BTreeMap::from([(model(7), Residency::Resident)]));
    harness.run_until_ms(harness.now.as_millis() + 4_000);
    let next = harness
        .leaders()
        .into_iter()
        .find(|index| *index != leader)
        .expect("the majority elected a leader");
    assert_eq!(
        recorded(&harness, next, follower),
        BTreeMap::from([(model(7), Residency::Resident)]),
        "reported again once the state did not show it"
    );
}

#[test]
fn an_operator_may_not_overrule_what_a_node_reports_of_its_own_disk() {
    use psionic_core::ClusterCommand;
    use psionic_core::consensus::ProposalRejection;
    use psionic_core::state::ApplyRefusal;

    let mut harness = Harness::new(consensus_configs(3, 3), 5);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 1) % 3;
    let now = harness.now;
    harness.nodes[follower].hold_artifacts(now, BTreeMap::from([(model(3), Residency::Resident)]));
    harness.run_until_ms(harness.now.as_millis() + 500);
    let node = harness.nodes[follower].node_id();
    let claim = |residency| ClusterCommand::SetArtifactResidency {
        node,
        artifact: model(3),
        residency,
    };
    let now = harness.now;
    let id = harness.nodes[leader].propose(now, claim(Residency::Evicted));
    harness.run_until_ms(harness.now.as_millis() + 200);
    let refusal = ApplyRefusal::ReportedByNode {
        node,
        artifact: model(3),
    };
    assert_eq!(
        harness.outcome_of(leader, id),
        Some(Err(ProposalRejection::Invalid { refusal }))
    );
    // Nor of another artifact there: the node reports its own. Asking to stage one it
    // does not hold is a request, not a claim; staging one it reports resident is not.
    let now = harness.now;
    let other = |residency| ClusterCommand::SetArtifactResidency {
        node,
        artifact: model(4),
        residency,
    };
    let claimed = harness.nodes[leader].propose(now, other(Residency::Resident));
    let staging = harness.nodes[leader].propose(now, other(Residency::STAGING_ASKED));
    let restaged = harness.nodes[leader].propose(now, claim(Residency::STAGING_ASKED));
    harness.run_until_ms(harness.now.as_millis() + 200);
    let refused = |artifact| {
        Some(Err(ProposalRejection::Invalid {
            refusal: ApplyRefusal::ReportedByNode { node, artifact },
        }))
    };
    assert_eq!(harness.outcome_of(leader, claimed), refused(model(4)));
    assert!(matches!(harness.outcome_of(leader, staging), Some(Ok(_))));
    assert_eq!(harness.outcome_of(leader, restaged), refused(model(3)));
    // The staging request set by the operator does not open the door to a claim.
    let now = harness.now;
    let after = harness.nodes[leader].propose(now, other(Residency::Resident));
    harness.run_until_ms(harness.now.as_millis() + 200);
    assert_eq!(harness.outcome_of(leader, after), refused(model(4)));
    assert_eq!(
        recorded(&harness, leader, follower)[&model(4)],
        Residency::STAGING_ASKED
    );
    // The node holds it already: its next report sets it back.
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    assert_eq!(recorded(&harness, leader, follower)[&model(3)], Residency::Resident);
}

#[test]
fn an_operator_may_not_claim_residency_even_for_a_node_that_reported_nothing() {
    use psionic_core::ClusterCommand;
    use psionic_core::consensus::ProposalRejection;
    use psionic_core::state::ApplyRefusal;

    let mut harness = Harness::new(consensus_configs(3, 3), 8);
    let leader = harness.await_leader(3_000);
    let node = harness.nodes[(leader + 1) % 3].node_id();
    let now = harness.now;
    let claims = [
        Residency::Resident,
        Residency::Evicted,
        Residency::Staging {
            bytes_done: 5,
            bytes_total: 10,
        },
    ]
    .map(|residency| {
        let claim = ClusterCommand::SetArtifactResidency {
            node,
            artifact: model(5),
            residency,
        };
        harness.nodes[leader].propose(now, claim)
    });
    harness.run_until_ms(harness.now.as_millis() + 300);
    let refusal = ApplyRefusal::ReportedByNode {
        node,
        artifact: model(5),
    };
    for id in claims {
        assert_eq!(
            harness.outcome_of(leader, id),
            Some(Err(ProposalRejection::Invalid { refusal }))
        );
    }
    let state = harness.nodes[leader].consensus().state();
    assert!(
        state
            .residency
            .get(&node)
            .is_none_or(|held| !held.contains_key(&model(5)))
    );
}

#[test]
fn an_executor_that_does_not_vote_reports_its_own_artifacts_too() {
    use psionic_core::identity::NodeRole;

    let mut configs = consensus_configs(4, 3);
    configs[3].role = NodeRole::Executor;
    let mut harness = Harness::new(configs, 6);
    let leader = harness.await_leader(3_000);
    let executor = harness.nodes[3].node_id();
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    let member = harness.nodes[leader]
        .consensus()
        .state()
        .members
        .get(&executor)
        .cloned();
    assert!(
        member.is_some_and(|member| !member.voter),
        "the executor is a member that does not vote"
    );
    let now = harness.now;
    harness.nodes[3].hold_artifacts(now, BTreeMap::from([(model(8), Residency::Resident)]));
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert_eq!(
        recorded(&harness, leader, 3),
        BTreeMap::from([(model(8), Residency::Resident)])
    );
}

#[test]
fn a_lone_voter_reports_what_it_held_before_it_led() {
    let mut harness = Harness::new(consensus_configs(1, 1), 9);
    let now = harness.now;
    harness.nodes[0].hold_artifacts(now, BTreeMap::from([(model(9), Residency::Resident)]));
    let leader = harness.await_leader(3_000);
    harness.run_until_ms(harness.now.as_millis() + 5_000);
    assert_eq!(
        recorded(&harness, leader, 0).get(&model(9)),
        Some(&Residency::Resident),
        "a report refused before the node led is made again, with no peer to probe"
    );
}

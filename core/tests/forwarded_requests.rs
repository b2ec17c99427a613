//! Requests submitted to a node that does not lead are forwarded to the leader and
//! answered where they were submitted: placed, then finished with evidence, or refused;
//! one whose leader changed before it answered ends there too.

mod harness;

use harness::Harness;
use harness::serving::{cluster, completed, keys, request, voters};
use psionic_core::ServingEvent;
use psionic_core::dispatch::{RequestOutcome, RequestRefusal, SubmitRefusal};
use psionic_core::serving::Submitted;
use psionic_core::{Event, RequestId};

/// What node `index` reported of forwarded `request`, in order: placed (the node
/// placed on), refused, finished.
fn reports(harness: &Harness, index: usize, request: RequestId) -> Vec<String> {
    let reported = harness.events_of(index).filter_map(|event| match event {
        Event::Serving(ServingEvent::RequestPlaced { request: id, placement }) if *id == request => {
            Some(format!("placed on {}", placement.plan.executing()[0].node))
        }
        Event::Serving(ServingEvent::RequestSubmitRefused { request: id, refusal }) if *id == request => {
            Some(format!("refused: {refusal}"))
        }
        Event::Serving(ServingEvent::RequestFinished { request: id, outcome }) if *id == request => {
            Some(match outcome {
                RequestOutcome::Completed { tokens, .. } => format!("completed: {}", String::from_utf8_lossy(tokens)),
                RequestOutcome::Refused { refusal } => format!("finished refused: {refusal}"),
            })
        }
        _ => None,
    });
    reported.collect()
}

#[test]
fn a_request_submitted_to_a_follower_is_placed_run_and_answered_there_with_evidence() {
    let best = 2;
    let (mut harness, leader) = cluster(41, best);
    let follower = (0..3)
        .find(|index| *index != leader && *index != best)
        .expect("a third node");
    let now = harness.now;
    let submitted = harness.nodes[follower].submit_request_through_leader(now, request(3));
    let leader_id = harness.nodes[leader].node_id();
    assert_eq!(submitted, Ok(Submitted::Forwarded { leader: leader_id }));
    harness.run_until_ms(harness.now.as_millis() + 50);
    let id = RequestId([3; 16]);
    let executor = harness.nodes[best].node_id();
    assert_eq!(reports(&harness, follower, id), [format!("placed on {executor}")]);
    assert_eq!(harness.runs_of(best).len(), 1, "the leader assigned it");

    let now = harness.now;
    harness.nodes[best].execution_ended(now, id, completed(b"forwarded"));
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert_eq!(
        reports(&harness, follower, id),
        [format!("placed on {executor}"), "completed: forwarded".to_owned()]
    );
    let evidence = harness.events_of(follower).find_map(|event| match event {
        Event::Serving(ServingEvent::RequestFinished {
            outcome: RequestOutcome::Completed { evidence, .. },
            ..
        }) => Some(evidence.clone()),
        _ => None,
    });
    let evidence = evidence.expect("the evidence came with it");
    assert_eq!(evidence.context.authority.leader, leader_id, "signed by the leader");
    let cluster_id = harness.configs[0].cluster_id;
    let fence = evidence.context.authority.fence;
    assert_eq!(
        evidence.verify(cluster_id, (&keys(&harness), &voters(&harness)), fence),
        Ok(())
    );
}

#[test]
fn a_request_the_leader_refuses_is_refused_where_it_was_submitted() {
    let (mut harness, leader) = cluster(43, 1);
    let follower = (leader + 1) % 3;
    let mut empty = request(4);
    empty.prompt.clear();
    let now = harness.now;
    harness.nodes[follower]
        .submit_request_through_leader(now, empty)
        .expect("forwarded");
    harness.run_until_ms(harness.now.as_millis() + 50);
    let refused = reports(&harness, follower, RequestId([4; 16]));
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].starts_with("refused: prompt of 0 bytes"), "{refused:?}");
}

#[test]
fn a_forwarded_request_whose_leader_was_cut_away_ends_where_it_was_submitted() {
    let (mut harness, leader) = cluster(45, 1);
    let follower = (leader + 1) % 3;
    harness.isolate(leader);
    let now = harness.now;
    harness.nodes[follower]
        .submit_request_through_leader(now, request(5))
        .expect("forwarded to the leader it still follows");
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    let leader_id = harness.nodes[leader].node_id();
    let refusal = SubmitRefusal::ForwardUnanswered { leader: leader_id };
    assert_eq!(
        reports(&harness, follower, RequestId([5; 16])),
        [format!("refused: {refusal}")],
        "never placed: refused once another leader took over"
    );

    // Placed, then its leader is cut away: it ends deposed.
    harness.heal();
    let leader = harness.await_leader(3_000);
    harness.run_until_ms(harness.now.as_millis() + 300);
    let follower = (leader + 1) % 3;
    let now = harness.now;
    harness.nodes[follower]
        .submit_request_through_leader(now, request(6))
        .expect("forwarded");
    harness.run_until_ms(harness.now.as_millis() + 20);
    harness.isolate(leader);
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    let ended = reports(&harness, follower, RequestId([6; 16]));
    assert_eq!(ended.len(), 2, "{ended:?}");
    assert_eq!(
        ended[1],
        format!("finished refused: {}", RequestRefusal::CoordinatorDeposed)
    );
}

#[test]
fn a_request_forwarded_twice_is_answered_to_the_first_forwarder_and_refused_to_the_second() {
    let best = 1;
    let (mut harness, leader) = cluster(47, best);
    let others: Vec<usize> = (0..3).filter(|index| *index != leader).collect();
    let now = harness.now;
    harness.nodes[others[0]]
        .submit_request_through_leader(now, request(7))
        .expect("forwarded");
    harness.run_until_ms(harness.now.as_millis() + 20);
    let now = harness.now;
    harness.nodes[others[1]]
        .submit_request_through_leader(now, request(7))
        .expect("forwarded");
    harness.run_until_ms(harness.now.as_millis() + 20);
    let id = RequestId([7; 16]);
    let second = reports(&harness, others[1], id);
    assert_eq!(
        second,
        [format!("refused: {}", SubmitRefusal::InFlight { request: id })]
    );
    let now = harness.now;
    harness.nodes[best].execution_ended(now, id, completed(b"once"));
    harness.run_until_ms(harness.now.as_millis() + 50);
    let first = reports(&harness, others[0], id);
    assert_eq!(first.last().map(String::as_str), Some("completed: once"), "{first:?}");
}

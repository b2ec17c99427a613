//! Requests submitted to a node that does not lead are forwarded to the leader and
//! answered where they were submitted: placed, then finished with evidence, or refused;
//! one whose leader changed before it answered ends there too.
//!
//! proves: F8

mod harness;

use harness::Harness;
use harness::serving::{cluster, completed, keys, request, tokens_of, voters};
use psionic_core::ServingEvent;
use psionic_core::consensus::Fence;
use psionic_core::dispatch::{InferenceRequest, RequestOutcome, RequestRefusal, SubmitRefusal};
use psionic_core::serving::{DispatchMessage, Submitted};
use psionic_core::wire::Message;
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
                RequestOutcome::Completed { tokens, .. } => {
                    let bytes: Vec<u8> = tokens.iter().map(|token| *token as u8).collect();
                    format!("completed: {}", String::from_utf8_lossy(&bytes))
                }
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

/// The tokens node `index` was handed of `request` as they were produced, by number.
fn streamed(harness: &Harness, index: usize, request: RequestId) -> Vec<(u32, Vec<psionic_core::dispatch::Token>)> {
    let tokens = harness.events_of(index).filter_map(|event| match event {
        Event::Serving(ServingEvent::TokensProduced {
            request: id,
            offset,
            tokens,
            ..
        }) if *id == request => Some((*offset, tokens.clone())),
        _ => None,
    });
    tokens.collect()
}

#[test]
fn a_streaming_request_sent_to_a_follower_gets_its_tokens_there_as_the_executor_produces_them() {
    let best = 2;
    let (mut harness, leader) = cluster(47, best);
    let follower = (0..3)
        .find(|index| *index != leader && *index != best)
        .expect("a third node");
    let now = harness.now;
    let streaming = InferenceRequest {
        stream: true,
        ..request(5)
    };
    let quiet = request(6);
    harness.nodes[follower]
        .submit_request_through_leader(now, streaming)
        .unwrap();
    harness.nodes[follower]
        .submit_request_through_leader(now, quiet)
        .unwrap();
    harness.run_until_ms(harness.now.as_millis() + 50);
    let (id, quiet) = (RequestId([5; 16]), RequestId([6; 16]));
    let runs = harness.runs_of(best);
    assert_eq!(runs.len(), 2, "both assigned");
    assert!(runs.iter().any(|job| job.request == id && job.stream), "{runs:?}");

    for (offset, tokens) in [(0, tokens_of(b"he")), (2, tokens_of(b"llo"))] {
        let now = harness.now;
        harness.nodes[best].execution_progress(now, id, offset, tokens.clone());
        harness.nodes[best].execution_progress(now, quiet, offset, tokens);
        harness.run_until_ms(harness.now.as_millis() + 50);
    }
    assert_eq!(
        streamed(&harness, follower, id),
        [(0, tokens_of(b"he")), (2, tokens_of(b"llo"))],
        "in order, where it was submitted"
    );
    // Tokens sent again, or past the request's max_tokens (8), are not passed on: an
    // assignee relays at most its request's tokens once.
    for (offset, tokens) in [(0, tokens_of(b"he")), (5, tokens_of(b"long tail"))] {
        let now = harness.now;
        harness.nodes[best].execution_progress(now, id, offset, tokens);
        harness.run_until_ms(harness.now.as_millis() + 50);
    }
    assert_eq!(streamed(&harness, follower, id).len(), 2, "nothing more passed on");
    assert!(
        streamed(&harness, follower, quiet).is_empty(),
        "a request that does not stream"
    );
    assert!(
        (0..3)
            .filter(|index| *index != follower)
            .all(|index| streamed(&harness, index, id).is_empty()),
        "only where it was submitted"
    );

    // Once it ended, nothing more is handed over.
    let now = harness.now;
    harness.nodes[best].execution_ended(now, id, completed(b"hello"));
    harness.run_until_ms(harness.now.as_millis() + 50);
    let now = harness.now;
    harness.nodes[best].execution_progress(now, id, 5, tokens_of(b"!"));
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert_eq!(streamed(&harness, follower, id).len(), 2);
    assert_eq!(
        reports(&harness, follower, id).last().map(String::as_str),
        Some("completed: hello")
    );
}

#[test]
fn tokens_from_a_node_that_was_not_assigned_the_request_are_not_passed_on() {
    let best = 2;
    let (mut harness, leader) = cluster(53, best);
    let now = harness.now;
    let streaming = InferenceRequest {
        stream: true,
        ..request(8)
    };
    harness.nodes[leader].submit_request(now, streaming).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 50);
    let id = RequestId([8; 16]);
    let other = (0..3)
        .find(|index| *index != leader && *index != best)
        .expect("a third node");
    // The other node runs nothing of it: its own progress goes nowhere, and tokens it
    // sends the leader under the request's fence are not passed on.
    let now = harness.now;
    harness.nodes[other].execution_progress(now, id, 0, tokens_of(b"unassigned"));
    let fence = Fence(harness.nodes[leader].consensus().hard_state().term);
    let forged = DispatchMessage::Tokens {
        request: id,
        fence,
        offset: 0,
        tokens: tokens_of(b"forged"),
    };
    let frame = harness::sealed(
        &harness::identity(other),
        leader,
        u64::MAX / 2,
        Message::Dispatch(forged),
    );
    harness.inject(harness::addr(other), leader, frame);
    harness.nodes[best].execution_progress(now, id, 0, tokens_of(b"real"));
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert_eq!(streamed(&harness, leader, id), [(0, tokens_of(b"real"))]);
}

/// A request that completed is answered with its outcome when it comes again (a
/// client's retry, or a forward delayed on the way), not run a second time.
#[test]
fn a_request_that_completed_is_answered_again_not_run_again() {
    let best = 2;
    let (mut harness, leader) = cluster(59, best);
    let follower = (0..3)
        .find(|index| *index != leader && *index != best)
        .expect("a third node");
    let now = harness.now;
    harness.nodes[follower]
        .submit_request_through_leader(now, request(9))
        .unwrap();
    harness.run_until_ms(harness.now.as_millis() + 50);
    let id = RequestId([9; 16]);
    let now = harness.now;
    harness.nodes[best].execution_ended(now, id, completed(b"once"));
    harness.run_until_ms(harness.now.as_millis() + 50);
    let runs = || (0..3).map(|index| harness.runs_of(index).len()).sum::<usize>();
    assert_eq!(runs(), 1);

    let now = harness.now;
    harness.nodes[follower]
        .submit_request_through_leader(now, request(9))
        .unwrap();
    let placed = harness.nodes[leader].submit_request(now, request(9));
    assert!(placed.is_ok(), "{placed:?}");
    harness.run_until_ms(harness.now.as_millis() + 50);
    let executor = harness.nodes[best].node_id();
    assert_eq!(
        reports(&harness, follower, id),
        [
            format!("placed on {executor}"),
            "completed: once".to_owned(),
            format!("placed on {executor}"),
            "completed: once".to_owned()
        ]
    );
    let runs = (0..3).map(|index| harness.runs_of(index).len()).sum::<usize>();
    assert_eq!(runs, 1, "run once");
}

/// A placed request whose `Finished` was lost on the way is not left waiting: the
/// member that forwarded it asks the leader again, and gets the outcome.
#[test]
fn a_lost_finished_answer_is_asked_for_again_and_the_outcome_arrives() {
    let best = 2;
    let (mut harness, leader) = cluster(61, best);
    let follower = (0..3)
        .find(|index| *index != leader && *index != best)
        .expect("a third node");
    let now = harness.now;
    harness.nodes[follower]
        .submit_request_through_leader(now, request(10))
        .unwrap();
    harness.run_until_ms(harness.now.as_millis() + 50);
    let id = RequestId([10; 16]);
    let executor = harness.nodes[best].node_id();
    assert_eq!(reports(&harness, follower, id), [format!("placed on {executor}")]);

    harness.block_one_way(leader, follower);
    let now = harness.now;
    harness.nodes[best].execution_ended(now, id, completed(b"late"));
    harness.run_until_ms(harness.now.as_millis() + 100);
    harness.heal();
    assert_eq!(reports(&harness, follower, id).len(), 1, "the answer was lost");
    harness.run_until_ms(harness.now.as_millis() + 6_000);
    assert_eq!(
        reports(&harness, follower, id),
        [format!("placed on {executor}"), "completed: late".to_owned()],
        "asked again, answered with the outcome"
    );
}

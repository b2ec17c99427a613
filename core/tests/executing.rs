//! The executing node's side of dispatch: its jobs run once, their outcomes reach the
//! coordinator that can still take them, and a completion outlives the coordinator
//! that assigned it.
//!
//! proves: F8

mod harness;

use harness::Harness;
use harness::serving::{accepted, cluster, completed, finished, keys, report, request, tokens_of, voters};
use psionic_core::ServingEvent;
use psionic_core::ServingRefusal;
use psionic_core::dispatch::{ExecutionReport, RequestOutcome, RequestRefusal};
use psionic_core::plan::ServingPolicy;
use psionic_core::{ClusterCommand, Event, RequestId};

/// Requests finished on node `index` with id `request`, in order.
fn outcomes(harness: &Harness, index: usize, request: RequestId) -> Vec<RequestOutcome> {
    let finished = harness.events_of(index).filter_map(|event| match event {
        Event::Serving(ServingEvent::RequestFinished { request: id, outcome }) if *id == request => {
            Some(outcome.clone())
        }
        _ => None,
    });
    finished.collect()
}

/// Jobs of `request` every node was told to run.
fn runs_of_request(harness: &Harness, request: RequestId) -> usize {
    let runs = (0..harness.nodes.len()).flat_map(|index| harness.runs_of(index));
    runs.filter(|job| job.request == request).count()
}

/// The leader among the nodes other than `old`, once one is elected.
fn new_leader(harness: &mut Harness, old: usize) -> usize {
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    let leaders = harness.leaders();
    *leaders
        .iter()
        .find(|index| **index != old)
        .expect("the majority elected a leader")
}

#[test]
fn a_completion_its_coordinator_never_heard_answers_a_resubmission_to_the_next_leader() {
    let (mut harness, leader) = cluster(19, 1);
    let executor = 1;
    assert_ne!(leader, executor, "the seed makes another node the leader");
    let id = RequestId([6; 16]);
    harness.nodes[leader].submit_request(harness.now, request(6)).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 20);
    assert_eq!(harness.runs_of(executor).len(), 1);
    // The coordinator is cut away before the result reaches it.
    harness.isolate(leader);
    let now = harness.now;
    harness.nodes[executor].execution_ended(now, id, completed(b"done before"));
    let next = new_leader(&mut harness, leader);
    assert_eq!(
        outcomes(&harness, next, id),
        [],
        "nothing finished it on the new leader yet"
    );

    harness.nodes[next].submit_request(harness.now, request(6)).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 1);
    let Some(RequestOutcome::Completed { node, tokens, evidence }) = finished(&harness, next, id) else {
        panic!("answered with the earlier result at once");
    };
    assert_eq!(
        (node, &tokens[..]),
        (harness.nodes[executor].node_id(), &tokens_of(b"done before")[..])
    );
    let authority = evidence.context.authority;
    assert_eq!(authority.leader, harness.nodes[next].node_id());
    let verified = evidence.verify(
        harness.configs[0].cluster_id,
        (&keys(&harness), &voters(&harness)),
        authority.fence,
    );
    assert_eq!(verified, Ok(()));
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert_eq!(runs_of_request(&harness, id), 1, "it never ran a second time");
}

#[test]
fn a_request_resubmitted_after_it_completed_is_answered_by_its_node_without_running_again() {
    let best = 2;
    let (mut harness, leader) = cluster(21, best);
    let id = RequestId([8; 16]);
    harness.nodes[leader].submit_request(harness.now, request(8)).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 20);
    let now = harness.now;
    harness.nodes[best].execution_ended(now, id, completed(b"first run"));
    harness.run_until_ms(harness.now.as_millis() + 20);
    assert_eq!(outcomes(&harness, leader, id).len(), 1);

    let again = harness.nodes[leader].submit_request(harness.now, request(8)).unwrap();
    assert_eq!(again.plan.executing()[0].node, harness.nodes[best].node_id());
    harness.run_until_ms(harness.now.as_millis() + 20);
    let ends = outcomes(&harness, leader, id);
    assert_eq!(ends.len(), 2, "the resubmission finished: {ends:?}");
    assert!(
        matches!(&ends[1], RequestOutcome::Completed { tokens, .. } if *tokens == tokens_of(b"first run")),
        "{ends:?}"
    );
    assert_eq!(
        runs_of_request(&harness, id),
        1,
        "its node answered with the kept result"
    );
}

#[test]
fn a_run_whose_coordinator_was_deposed_is_stopped_and_its_outcome_dropped() {
    let best = 1;
    let (mut harness, leader) = cluster(23, best);
    assert_ne!(leader, best, "the seed makes another node the leader");
    let id = RequestId([9; 16]);
    harness.nodes[leader].submit_request(harness.now, request(9)).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 20);
    assert_eq!(harness.runs_of(best).len(), 1);
    harness.isolate(leader);
    new_leader(&mut harness, leader);
    assert_eq!(
        harness.stops_of(best),
        [id],
        "a newer term stopped the deposed coordinator's run"
    );

    let sent_before = harness.sent.len();
    let now = harness.now;
    harness.nodes[best].execution_ended(now, id, completed(b"too late"));
    let reported = harness
        .events_of(best)
        .any(|event| matches!(event, Event::Serving(ServingEvent::ExecutionEnded { request, .. }) if *request == id));
    assert!(!reported, "the stopped run's outcome is not reported");
    assert_eq!(harness.sent.len(), sent_before, "nothing was sent for it");
}

/// A 3-node cluster under `policy` whose leader assigned one request (`seq`) to the
/// node after it; returns the harness, leader, executor and the assignment.
fn one_request_running(seed: u64, policy: ServingPolicy, seq: u8) -> (Harness, usize, usize, RequestId) {
    let (mut harness, leader) = cluster(seed, 0);
    let executor = (leader + 1) % 3;
    let now = harness.now;
    harness.nodes[executor].report_devices(now, report(79));
    let serving = ClusterCommand::SetServingPolicy { policy };
    harness.nodes[leader].propose(now, serving);
    harness.run_until_ms(harness.now.as_millis() + 300);
    harness.nodes[leader].submit_request(harness.now, request(seq)).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 20);
    let runs = accepted(&harness, executor);
    assert_eq!(runs.len(), 1);
    (harness, leader, executor, runs[0].1)
}

/// The executor reports `request` completed with `tokens`, after a heal.
fn heal_and_report_completed(harness: &mut Harness, executor: usize, request: RequestId, tokens: &[u8]) {
    harness.heal();
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    let now = harness.now;
    harness.nodes[executor].execution_ended(now, request, completed(tokens));
    harness.run_until_ms(harness.now.as_millis() + 50);
}

/// Assignments accepted by every node but `executor`.
fn runs_elsewhere(harness: &Harness, executor: usize) -> usize {
    (0..3)
        .filter(|index| *index != executor)
        .map(|index| accepted(harness, index).len())
        .sum()
}

#[test]
fn with_reroute_lost_off_a_silent_node_keeps_its_request_and_completes_it_once() {
    let policy = ServingPolicy {
        reroute_lost: false,
        ..ServingPolicy::default()
    };
    let (mut harness, leader, executor, id) = one_request_running(11, policy, 12);
    harness.isolate(executor);
    harness.run_until_ms(harness.now.as_millis() + 1_500);
    let rerouted = harness
        .events_of(leader)
        .any(|event| matches!(event, Event::Serving(ServingEvent::RequestRerouted { .. })));
    assert!(!rerouted, "the request waits for its node");
    assert_eq!(finished(&harness, leader, id), None);

    heal_and_report_completed(&mut harness, executor, id, b"once");
    assert!(
        matches!(finished(&harness, leader, id), Some(RequestOutcome::Completed { node, .. }) if node == harness.nodes[executor].node_id()),
        "completed on the node that held it"
    );
    assert_eq!(runs_elsewhere(&harness, executor), 0, "it never ran anywhere else");
}

#[test]
fn with_reroute_lost_off_a_request_whose_node_stays_silent_ends_executor_lost_and_runs_nowhere_else() {
    let policy = ServingPolicy {
        reroute_lost: false,
        lost_wait_ms: 2_000,
        ..ServingPolicy::default()
    };
    let (mut harness, leader, executor, id) = one_request_running(13, policy, 14);
    harness.isolate(executor);
    harness.run_until_ms(harness.now.as_millis() + 1_500);
    assert_eq!(finished(&harness, leader, id), None, "still within lost_wait_ms");
    harness.run_until_ms(harness.now.as_millis() + 1_500);
    let executor_id = harness.nodes[executor].node_id();
    assert_eq!(
        finished(&harness, leader, id),
        Some(RequestOutcome::Refused {
            refusal: RequestRefusal::ExecutorLost { node: executor_id }
        })
    );

    heal_and_report_completed(&mut harness, executor, id, b"late");
    assert!(
        matches!(finished(&harness, leader, id), Some(RequestOutcome::Refused { .. })),
        "a late report changes nothing"
    );
    assert_eq!(runs_elsewhere(&harness, executor), 0, "it never ran anywhere else");
}

/// A completion under an earlier coordinator is taken only from a member that
/// executes: a token holder's made-up result is refused, and a resubmission of the
/// request runs instead of being answered with it.
#[test]
fn a_completion_from_a_node_that_is_not_an_executor_member_is_refused() {
    let (mut harness, leader) = cluster(19, 1);
    let placement = harness.nodes[leader]
        .plan(
            harness.now,
            &psionic_core::dispatch::PlanRequest::WholeRequest(request(7).needs),
        )
        .unwrap();
    let tokens = tokens_of(b"made up");
    let report = ExecutionReport::CompletedEarlier {
        result_digest: psionic_core::dispatch::output_digest(&tokens),
        tokens,
        plan: Box::new(placement.plan.clone()),
    };
    let impostor = psionic_core::NodeIdentity::new([0xcd; 32], psionic_core::NodeEpoch(1));
    let execution = psionic_core::serving::DispatchMessage::Execution {
        request: RequestId([7; 16]),
        fence: psionic_core::consensus::Fence(1),
        report,
    };
    let frame = harness::sealed(&impostor, leader, 0, psionic_core::wire::Message::Dispatch(execution));
    harness.inject(harness::addr(9), leader, frame);
    let refused = harness.events_of(leader).any(|event| {
        matches!(event, Event::Refused {
            refusal: psionic_core::Refusal::Serving(ServingRefusal::NotTheAssignee { sender, .. }),
            ..
        } if *sender == impostor.node_id())
    });
    assert!(refused, "the made-up completion is refused");
    harness.nodes[leader].submit_request(harness.now, request(7)).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert_eq!(
        finished(&harness, leader, RequestId([7; 16])),
        None,
        "not answered with the made-up result"
    );
    let dispatched = (0..3)
        .flat_map(|index| accepted(&harness, index))
        .any(|(_, id)| id == RequestId([7; 16]));
    assert!(dispatched, "the request was assigned to run");
}

#[test]
fn a_node_that_does_not_hold_the_model_after_all_gives_the_request_to_another() {
    use psionic_core::dispatch::{ExecutionError, ModelRefusal};

    let best = 1;
    let (mut harness, leader) = cluster(23, best);
    let id = RequestId([9; 16]);
    harness.nodes[leader].submit_request(harness.now, request(9)).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 20);
    assert_eq!(harness.runs_of(best).len(), 1);
    // Its files went between the scan and the run: another node takes it.
    let now = harness.now;
    let not_held = ModelRefusal::NotHeld {
        artifact: harness::serving::model(),
    };
    harness.nodes[best].execution_ended(now, id, ExecutionReport::Failed(ExecutionError::Model(not_held)));
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert_eq!(runs_of_request(&harness, id), 2, "run again elsewhere");
    let other = (0..3).find(|index| *index != best && harness.runs_of(*index).iter().any(|job| job.request == id));
    let other = other.expect("another node runs it");
    let now = harness.now;
    harness.nodes[other].execution_ended(now, id, completed(b"from another"));
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert!(matches!(
        outcomes(&harness, leader, id)[..],
        [RequestOutcome::Completed { .. }]
    ));
}

//! Dispatch: the leader places a request, the executing node checks the assignment
//! against its own facts, and the leader follows it to a result (with signed
//! evidence), a reroute, or a typed refusal.
//!
//! proves: F8, F9

mod harness;

use harness::serving::{
    GIB, accepted, cluster, completed, finished, keys, model, prepare, report, request, tokens_of, voters,
};
use harness::{Harness, consensus_configs};
use psionic_core::ConsensusRefusal;
use psionic_core::ServingEvent;
use psionic_core::backend::{Backend, BackendReadiness, BackendRefusal};
use psionic_core::dispatch::{RequestOutcome, RequestRefusal, ShapeRefusal, SubmitRefusal};
use psionic_core::plan::{HintOutcome, PlacementHint, PlacementNote, PlacementRefusal, RerouteReason};
use psionic_core::serving::Decision;
use psionic_core::{Event, RequestId};

#[test]
fn a_request_runs_on_the_best_node_and_completes_with_verifiable_evidence() {
    let best = 1;
    let (mut harness, leader) = cluster(3, best);
    let placement = harness.nodes[leader].submit_request(harness.now, request(1)).unwrap();
    assert_eq!(placement.plan.executing()[0].node, harness.nodes[best].node_id());
    harness.run_until_ms(harness.now.as_millis() + 50);
    let runs = accepted(&harness, best);
    assert_eq!(runs.len(), 1, "the assignment reached the selected node once");
    let (authority, id) = runs[0];
    let jobs = harness.runs_of(best);
    assert_eq!(jobs.len(), 1, "the node told its executor to run it once");
    assert_eq!(
        (jobs[0].request, &jobs[0].prompt[..], jobs[0].max_tokens),
        (id, &b"hello"[..], 8)
    );
    let tokens = b"result".to_vec();
    let now = harness.now;
    harness.nodes[best].execution_ended(now, id, completed(&tokens));
    harness.run_until_ms(harness.now.as_millis() + 50);
    let Some(RequestOutcome::Completed {
        node,
        tokens: got,
        evidence,
    }) = finished(&harness, leader, id)
    else {
        panic!("the leader reports the completion");
    };
    assert_eq!((node, got), (harness.nodes[best].node_id(), tokens_of(&tokens)));
    let cluster_id = harness.configs[0].cluster_id;
    assert_eq!(
        evidence.verify(cluster_id, (&keys(&harness), &voters(&harness)), authority.fence),
        Ok(())
    );
    assert_eq!(evidence.context.plan_digest, placement.plan_digest);
    let executor = harness.nodes[best].node_id();
    let [device] = evidence.context.provenance.devices.as_slice() else {
        panic!("one device: {:?}", evidence.context.provenance.devices);
    };
    assert_eq!((device.node, device.backend), (executor, Backend::Cuda));
    assert_eq!(
        device.profile.as_ref().map(|profile| profile.uuid.as_str()),
        Some("GPU-0"),
        "the evidence names the device's UUID as committed"
    );
    let set_by = &evidence.context.provenance.set_by;
    let readiness = &set_by[&format!("readiness/{executor}/cuda")];
    assert_eq!(
        readiness.origin,
        psionic_core::state::Origin::Member { node: executor },
        "the executor reported its own readiness"
    );
    let residency = &set_by[&format!("residency/{executor}/{}", model())];
    assert_eq!(
        residency.origin,
        psionic_core::state::Origin::Member { node: executor },
        "the executor reported its own residency"
    );
    assert!(residency.index <= evidence.context.provenance.applied_index);
    assert_eq!(
        harness.nodes[leader]
            .submit_request(harness.now, request(2))
            .map(|_| ()),
        Ok(()),
        "a new id is accepted"
    );
    assert!(matches!(
        harness.nodes[(leader + 1) % 3].submit_request(harness.now, request(3)),
        Err(SubmitRefusal::NotLeader { .. })
    ));
}

#[test]
fn a_node_whose_own_facts_contradict_the_plan_refuses_and_the_request_is_rerouted() {
    let best = 2;
    let (mut harness, leader) = cluster(5, best);
    // The GPU fails on `best` after the cluster committed it ready: its own check
    // refuses before the new readiness is committed.
    let mut lost = report(70);
    lost.readiness.insert(
        Backend::Cuda,
        BackendReadiness::Refused {
            reason: BackendRefusal::NoDevice,
        },
    );
    let now = harness.now;
    harness.nodes[best].report_devices(now, lost);
    harness.nodes[leader].submit_request(now, request(1)).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert!(
        accepted(&harness, best).is_empty(),
        "the refused assignment does not run"
    );
    let rerouted: Vec<_> = harness
        .events_of(leader)
        .filter_map(|event| match event {
            Event::Serving(ServingEvent::RequestRerouted { from, reason, .. }) => Some((*from, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        rerouted,
        [(harness.nodes[best].node_id(), RerouteReason::AssignmentRefused)]
    );
    let others: usize = (0..3)
        .filter(|index| *index != best)
        .map(|index| accepted(&harness, index).len())
        .sum();
    assert_eq!(others, 1, "placed again on another node");
}

#[test]
fn a_lost_node_is_rerouted_and_a_deposed_leader_refuses_what_it_held() {
    let (mut harness, leader) = cluster(7, 0);
    let executor = (leader + 1) % 3;
    let mut first = harness.now;
    // Make `executor` the best node, then lose it with the request on it.
    harness.nodes[executor].report_devices(first, report(79));
    harness.run_until_ms(harness.now.as_millis() + 300);
    first = harness.now;
    harness.nodes[leader].submit_request(first, request(9)).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 20);
    assert_eq!(accepted(&harness, executor).len(), 1);
    harness.crash(executor);
    harness.run_until_ms(harness.now.as_millis() + 1_500);
    assert!(harness.events_of(leader).any(|event| matches!(
        event,
        Event::Serving(ServingEvent::RequestRerouted {
            reason: RerouteReason::NodeLost,
            ..
        })
    )));
    let third = 3 - leader - executor;
    let on_third = accepted(&harness, third).len() + accepted(&harness, leader).len();
    assert_eq!(on_third, 1, "the request moved to a live node");

    // The leader loses its quorum: what it still held is refused, not left waiting.
    harness.nodes[leader].submit_request(harness.now, request(10)).unwrap();
    harness.isolate(leader);
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    assert_eq!(
        finished(&harness, leader, RequestId([10; 16])),
        Some(RequestOutcome::Refused {
            refusal: RequestRefusal::CoordinatorDeposed
        })
    );
}

#[test]
fn impossible_requests_are_refused_with_the_reason() {
    let (mut harness, leader) = cluster(9, 0);
    let mut huge = request(1);
    huge.needs.device_memory_bytes = 90 * GIB;
    assert!(matches!(
        harness.nodes[leader].submit_request(harness.now, huge),
        Err(SubmitRefusal::Placement(PlacementRefusal::NoEligibleNode { .. }))
    ));
    let mut empty = request(2);
    empty.prompt.clear();
    assert!(matches!(
        harness.nodes[leader].submit_request(harness.now, empty),
        Err(SubmitRefusal::Shape(ShapeRefusal::Prompt { len: 0, .. }))
    ));
    harness.nodes[leader].submit_request(harness.now, request(3)).unwrap();
    assert_eq!(
        harness.nodes[leader]
            .submit_request(harness.now, request(3))
            .map(|_| ()),
        Err(SubmitRefusal::InFlight {
            request: RequestId([3; 16])
        })
    );
}

#[test]
fn an_assignment_from_a_deposed_leader_never_runs() {
    let mut harness = Harness::new(consensus_configs(5, 5), 13);
    let old = harness.await_leader(3_000);
    let minority = [old, (old + 1) % 5];
    let majority: Vec<usize> = (0..5).filter(|index| !minority.contains(index)).collect();
    let target = majority[0];
    prepare(&mut harness, |index| if index == target { 79 } else { 30 });
    harness.partition(&minority, &majority);
    let sent_before = harness.sent.len();
    let placement = harness.nodes[old].submit_request(harness.now, request(1)).unwrap();
    assert_eq!(placement.plan.executing()[0].node, harness.nodes[target].node_id());
    harness.run_until_ms(harness.now.as_millis() + 1);
    let delayed = harness.sent[sent_before..]
        .iter()
        .find(|packet| packet.to == harness.addrs[target] && packet.from == harness.addrs[old])
        .expect("the assignment was sent")
        .clone();
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    assert!(
        harness.leaders().iter().any(|index| majority.contains(index)),
        "the majority elected a leader"
    );
    harness.inject(delayed.from, target, delayed.bytes);
    assert!(
        accepted(&harness, target).is_empty() && harness.runs_of(target).is_empty(),
        "the stale assignment did not run"
    );
    assert!(harness.events_of(target).any(|event| matches!(
        event,
        Event::Refused {
            refusal: psionic_core::refusal::Refusal::Consensus(ConsensusRefusal::StaleFence { .. }),
            ..
        }
    )));
    assert_eq!(
        finished(&harness, old, RequestId([1; 16])),
        Some(RequestOutcome::Refused {
            refusal: RequestRefusal::CoordinatorDeposed
        }),
        "the old leader gave the request up when it stepped down"
    );
}

#[test]
fn a_cancelled_request_ends_and_its_executor_is_told_to_stop() {
    let best = 1;
    let (mut harness, leader) = cluster(15, best);
    harness.nodes[leader].submit_request(harness.now, request(4)).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert_eq!(accepted(&harness, best).len(), 1);
    let id = RequestId([4; 16]);
    harness.nodes[leader].cancel_request(harness.now, id).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 50);
    assert_eq!(
        finished(&harness, leader, id),
        Some(RequestOutcome::Refused {
            refusal: RequestRefusal::Cancelled
        })
    );
    assert!(harness.events_of(best).any(|event| matches!(
        event,
        Event::Serving(ServingEvent::DecisionAccepted {
            decision: Decision::Cancel { request },
            ..
        }) if *request == id
    )));
    assert_eq!(harness.stops_of(best), [id], "its executor was told to stop it");
    assert_eq!(
        harness.nodes[leader].cancel_request(harness.now, id),
        Err(psionic_core::dispatch::CancelRefusal::NotInFlight { request: id })
    );
}

#[test]
fn a_hint_chooses_among_equally_good_nodes() {
    let mut harness = Harness::new(consensus_configs(3, 3), 17);
    let leader = harness.await_leader(3_000);
    prepare(&mut harness, |_| 50);
    let wanted = (0..3).rev().find(|index| *index != leader).unwrap();
    let wanted = harness.nodes[wanted].node_id();
    let mut hinted = request(5);
    hinted.hint = Some(PlacementHint {
        cluster_id: harness.configs[0].cluster_id,
        topology_digest: harness.nodes[leader].consensus().state().topology_digest(),
        preferred: vec![wanted],
    });
    let placement = harness.nodes[leader].submit_request(harness.now, hinted).unwrap();
    assert_eq!(placement.plan.executing()[0].node, wanted);
    assert!(placement.notes.contains(&PlacementNote::Hint {
        outcome: HintOutcome::Accepted { node: wanted }
    }));
}

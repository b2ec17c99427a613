//! Dispatch: the leader places a request, the executing node checks the assignment
//! against its own facts, and the leader follows it to a result (with signed
//! evidence), a reroute, or a typed refusal.

mod harness;

use std::collections::BTreeMap;

use harness::{Harness, consensus_configs};
use psionic_core::backend::{Backend, BackendReadiness, BackendRefusal, DeviceProfile, DeviceReport, ExecutionProfile};
use psionic_core::consensus::Decision;
use psionic_core::dispatch::{
    ExecutionReport, InferenceRequest, RequestLane, RequestOutcome, RequestRefusal, ShapeRefusal, SubmitRefusal,
};
use psionic_core::plan::{
    HintOutcome, PlacementHint, PlacementNote, PlacementRefusal, RequestNeeds, RerouteReason, ServingPolicy,
};
use psionic_core::state::Residency;
use psionic_core::{ClusterCommand, Digest, DigestKind, Event, RequestId};

const GIB: u64 = 1024 * 1024 * 1024;

fn model() -> Digest {
    Digest::of_bytes(DigestKind::Policy, b"dispatch model")
}

/// CUDA with one 80 GiB device running whole requests, and the CPU.
fn report(free_gib: u64) -> DeviceReport {
    let device = DeviceProfile {
        ordinal: 0,
        name: "H100".into(),
        uuid: "GPU-0".into(),
        total_memory_bytes: 80 * GIB,
        compute_capability: (9, 0),
    };
    let cuda = BackendReadiness::Ready {
        devices: vec![device],
        profile: ExecutionProfile::dispatch(),
    };
    DeviceReport {
        readiness: [(Backend::Cuda, cuda)].into(),
        telemetry: psionic_core::backend::Telemetry {
            free_memory_bytes: vec![free_gib * GIB],
            queue_depth: 0,
            links: Default::default(),
        },
    }
}

/// Three voters, each with the model resident and a GPU; node `best` has the most
/// free memory. Returns the leader.
fn cluster(seed: u64, best: usize) -> (Harness, usize) {
    let mut harness = Harness::new(consensus_configs(3, 3), seed);
    let leader = harness.await_leader(3_000);
    prepare(
        &mut harness,
        leader,
        |index| if index == best { 70 } else { 40 - index as u64 },
    );
    (harness, leader)
}

/// Every node reports a GPU with `free_gib(index)` free and, through `leader`, has
/// the model recorded resident.
fn prepare(harness: &mut Harness, leader: usize, free_gib: impl Fn(usize) -> u64) {
    let now = harness.now;
    for index in 0..harness.nodes.len() {
        harness.nodes[index].report_devices(now, report(free_gib(index)));
        let node = harness.nodes[index].node_id();
        let resident = ClusterCommand::SetArtifactResidency {
            node,
            artifact: model(),
            residency: Residency::Resident,
        };
        harness.nodes[leader].propose(now, resident);
    }
    harness.run_until_ms(harness.now.as_millis() + 1_000);
}

fn request(byte: u8) -> InferenceRequest {
    InferenceRequest {
        id: RequestId([byte; 16]),
        lane: RequestLane::WholeRequest,
        needs: RequestNeeds {
            artifact: model(),
            backends: vec![Backend::Cuda],
            device_memory_bytes: 20 * GIB,
        },
        prompt: b"hello".to_vec(),
        max_tokens: 8,
        class: 0,
        hint: None,
    }
}

/// Assignments node `index` accepted, with their authority.
fn accepted(harness: &Harness, index: usize) -> Vec<(psionic_core::consensus::Authority, RequestId)> {
    harness
        .events_of(index)
        .filter_map(|event| match event {
            Event::DecisionAccepted {
                authority,
                decision: Decision::Assign(assignment),
            } => Some((*authority, assignment.request)),
            _ => None,
        })
        .collect()
}

fn finished(harness: &Harness, index: usize, request: RequestId) -> Option<RequestOutcome> {
    harness.events_of(index).find_map(|event| match event {
        Event::RequestFinished { request: id, outcome } if *id == request => Some(outcome.clone()),
        _ => None,
    })
}

/// The voters of `harness`'s cluster, as node 0 applied them: the verifier trusts them.
fn voters(harness: &Harness) -> std::collections::BTreeSet<psionic_core::NodeId> {
    harness.nodes[0].consensus().state().voters()
}

fn keys(harness: &Harness) -> BTreeMap<psionic_core::NodeId, ed25519_dalek::VerifyingKey> {
    harness
        .configs
        .iter()
        .map(|config| (config.identity.node_id(), config.identity.public_key()))
        .collect()
}

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
    let tokens = b"result".to_vec();
    let report = ExecutionReport::Completed {
        result_digest: Digest::of_bytes(DigestKind::Output, &tokens),
        tokens: tokens.clone(),
    };
    let now = harness.now;
    harness.nodes[best].report_execution(now, &authority, id, report);
    harness.run_until_ms(harness.now.as_millis() + 50);
    let Some(RequestOutcome::Completed {
        node,
        tokens: got,
        evidence,
    }) = finished(&harness, leader, id)
    else {
        panic!("the leader reports the completion");
    };
    assert_eq!((node, got), (harness.nodes[best].node_id(), tokens));
    let cluster_id = harness.configs[0].cluster_id;
    assert_eq!(
        evidence.verify(cluster_id, (&keys(&harness), &voters(&harness)), authority.fence),
        Ok(())
    );
    assert_eq!(evidence.context.plan_digest, placement.plan_digest);
    let executor = harness.nodes[best].node_id();
    let set_by = &evidence.context.provenance.set_by;
    let readiness = &set_by[&format!("readiness/{executor}/cuda")];
    assert_eq!(
        readiness.origin,
        psionic_core::state::Origin::Member { node: executor },
        "the executor reported its own readiness"
    );
    let residency = &set_by[&format!("residency/{executor}/{}", model())];
    assert!(
        matches!(&residency.origin, psionic_core::state::Origin::Operator { credential, .. } if credential == "local"),
        "{residency:?}"
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
            Event::RequestRerouted { from, reason, .. } => Some((*from, *reason)),
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
        Event::RequestRerouted {
            reason: RerouteReason::NodeLost,
            ..
        }
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
    prepare(&mut harness, old, |index| if index == target { 79 } else { 30 });
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
        accepted(&harness, target).is_empty(),
        "the stale assignment did not run"
    );
    assert!(harness.events_of(target).any(|event| matches!(
        event,
        Event::Refused {
            refusal: psionic_core::refusal::Refusal::StaleFence { .. },
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
        Event::DecisionAccepted {
            decision: Decision::Cancel { request },
            ..
        } if *request == id
    )));
    assert_eq!(
        harness.nodes[leader].cancel_request(harness.now, id),
        Err(psionic_core::dispatch::CancelRefusal::NotInFlight { request: id })
    );
}

#[test]
fn a_hint_chooses_among_equally_good_nodes() {
    let mut harness = Harness::new(consensus_configs(3, 3), 17);
    let leader = harness.await_leader(3_000);
    prepare(&mut harness, leader, |_| 50);
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

#[test]
fn a_completion_made_under_an_earlier_coordinator_answers_a_resubmission() {
    let (mut harness, leader) = cluster(19, 1);
    let executor = (leader + 1) % 3;
    let placement = harness.nodes[leader]
        .plan(
            harness.now,
            &psionic_core::dispatch::PlanRequest::WholeRequest(request(6).needs),
        )
        .unwrap();
    let tokens = b"done before".to_vec();
    let report = ExecutionReport::CompletedEarlier {
        result_digest: Digest::of_bytes(DigestKind::Output, &tokens),
        tokens: tokens.clone(),
        plan: Box::new(placement.plan.clone()),
    };
    let (now, leader_id) = (harness.now, harness.nodes[leader].node_id());
    harness.nodes[executor].forward_completed(now, leader_id, RequestId([6; 16]), report);
    harness.run_until_ms(harness.now.as_millis() + 50);
    harness.nodes[leader].submit_request(harness.now, request(6)).unwrap();
    harness.run_until_ms(harness.now.as_millis() + 1);
    let Some(RequestOutcome::Completed {
        node,
        tokens: got,
        evidence,
    }) = finished(&harness, leader, RequestId([6; 16]))
    else {
        panic!("answered with the earlier result at once");
    };
    assert_eq!((node, got), (harness.nodes[executor].node_id(), tokens));
    let authority = evidence.context.authority;
    assert_eq!(
        evidence.verify(
            harness.configs[0].cluster_id,
            (&keys(&harness), &voters(&harness)),
            authority.fence
        ),
        Ok(())
    );
    harness.run_until_ms(harness.now.as_millis() + 50);
    let after: usize = (0..3)
        .map(|index| {
            accepted(&harness, index)
                .into_iter()
                .filter(|(_, id)| *id == RequestId([6; 16]))
                .count()
        })
        .sum();
    assert_eq!(after, 0, "nothing was dispatched: it does not run again");
}

/// A 3-node cluster under `policy` whose leader assigned one request (`seq`) to the
/// node after it; returns the harness, leader, executor and the assignment.
fn one_request_running(
    seed: u64,
    policy: ServingPolicy,
    seq: u8,
) -> (Harness, usize, usize, psionic_core::consensus::Authority, RequestId) {
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
    let (authority, id) = runs[0];
    (harness, leader, executor, authority, id)
}

/// The executor reports `request` completed with `tokens`, after a heal.
fn heal_and_report_completed(
    harness: &mut Harness,
    executor: usize,
    authority: &psionic_core::consensus::Authority,
    request: RequestId,
    tokens: &[u8],
) {
    harness.heal();
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    let report = ExecutionReport::Completed {
        result_digest: Digest::of_bytes(DigestKind::Output, tokens),
        tokens: tokens.to_vec(),
    };
    let now = harness.now;
    harness.nodes[executor].report_execution(now, authority, request, report);
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
    let (mut harness, leader, executor, authority, id) = one_request_running(11, policy, 12);
    harness.isolate(executor);
    harness.run_until_ms(harness.now.as_millis() + 1_500);
    let rerouted = harness
        .events_of(leader)
        .any(|event| matches!(event, Event::RequestRerouted { .. }));
    assert!(!rerouted, "the request waits for its node");
    assert_eq!(finished(&harness, leader, id), None);

    heal_and_report_completed(&mut harness, executor, &authority, id, b"once");
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
    let (mut harness, leader, executor, authority, id) = one_request_running(13, policy, 14);
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

    heal_and_report_completed(&mut harness, executor, &authority, id, b"late");
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
    let tokens = b"made up".to_vec();
    let report = ExecutionReport::CompletedEarlier {
        result_digest: Digest::of_bytes(DigestKind::Output, &tokens),
        tokens,
        plan: Box::new(placement.plan.clone()),
    };
    let impostor = psionic_core::NodeIdentity::new([0xcd; 32], psionic_core::NodeEpoch(1));
    let execution = psionic_core::consensus::RaftMessage::Execution {
        request: RequestId([7; 16]),
        fence: psionic_core::consensus::Fence(1),
        report,
    };
    let frame = harness::sealed(&impostor, leader, 0, psionic_core::wire::Message::Raft(execution));
    harness.inject(harness::addr(9), leader, frame);
    let refused = harness.events_of(leader).any(|event| {
        matches!(event, Event::Refused {
            refusal: psionic_core::Refusal::NotTheAssignee { sender, .. },
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

use std::collections::BTreeSet;

use super::*;
use crate::backend::{BackendReadiness, BackendRefusal, ExecutionProfile};
use crate::identity::{ClusterId, NodeRole};
use crate::plan::eligibility::BackendIneligible;
use crate::plan::fixture::{Fleet, GIB, gpus, model, node};
use crate::plan::hint::{HintIgnored, HintOutcome};
use crate::state::{MemberStatus, Residency};

/// One member in each situation a whole request meets.
fn fleet() -> Fleet {
    let mut fleet = Fleet::default();
    fleet
        .member(1, "H100", &[30, 70])
        .member(2, "H100", &[70])
        .member(3, "H100", &[80])
        .set(3, |member| member.role = NodeRole::Coordinator)
        .member(4, "H100", &[80])
        .set(4, |member| member.status = MemberStatus::Draining)
        .member(5, "H100", &[80])
        .residency(
            5,
            Residency::Staging {
                bytes_done: 400,
                bytes_total: 1000,
            },
        )
        .member(6, "", &[])
        .backend(
            6,
            Backend::Cuda,
            BackendReadiness::Refused {
                reason: BackendRefusal::NoDriver,
            },
        )
        .member(7, "", &[])
        .backend(
            7,
            Backend::Metal,
            BackendReadiness::Refused {
                reason: BackendRefusal::NotForClusterExecution {
                    backend: Backend::Metal,
                },
            },
        )
        .member(8, "H100", &[80])
        .backend(
            8,
            Backend::Cuda,
            BackendReadiness::Ready {
                devices: match gpus("H100", 1) {
                    BackendReadiness::Ready { devices, .. } => devices,
                    BackendReadiness::Refused { .. } => unreachable!(),
                },
                profile: ExecutionProfile::default(),
            },
        )
        .member(9, "H100", &[80]);
    for byte in 1..=8 {
        fleet.queue(byte, u32::from(byte));
    }
    fleet.queue(9, 64);
    fleet
}

fn request(backends: &[Backend], gib: u64) -> RequestNeeds {
    RequestNeeds {
        artifact: model(),
        backends: backends.to_vec(),
        device_memory_bytes: gib * GIB,
    }
}

fn place(fleet: &Fleet, request: &RequestNeeds) -> Result<Placement, PlacementRefusal> {
    place_whole_request(&fleet.facts(), request, &BTreeSet::new(), None)
}

fn selected(placement: &Placement) -> (NodeId, Backend, Option<u32>) {
    match &placement.plan {
        ExecutionTopologyPlan::WholeRequest { selected, .. } => (selected.node, selected.backend, selected.device),
        other => panic!("a whole-request plan, not {other:?}"),
    }
}

#[test]
fn the_decision_table_is_pinned() {
    let fleet = fleet();
    let cases = [
        ("cuda 40 GiB", request(&[Backend::Cuda], 40)),
        ("cuda 75 GiB", request(&[Backend::Cuda], 75)),
        ("cuda then cpu, 81 GiB", request(&[Backend::Cuda, Backend::Cpu], 81)),
        ("metal", request(&[Backend::Metal], 1)),
    ];
    let table: Vec<_> = cases
        .iter()
        .map(|(name, request)| (*name, place(&fleet, request)))
        .collect();
    insta::assert_json_snapshot!(table);
}

#[test]
fn every_member_says_why_it_cannot_serve() {
    let Err(PlacementRefusal::NoEligibleNode { ineligible, .. }) = place(&fleet(), &request(&[Backend::Cuda], 81))
    else {
        panic!("no device has 81 GiB free");
    };
    let reason = |byte| ineligible[&node(byte)].clone();
    assert!(matches!(reason(1), Ineligible::Memory { best_free_bytes, .. } if best_free_bytes == 70 * GIB));
    assert_eq!(
        reason(3),
        Ineligible::Role {
            role: NodeRole::Coordinator
        }
    );
    assert_eq!(
        reason(4),
        Ineligible::NotReady {
            status: MemberStatus::Draining
        }
    );
    assert!(matches!(
        reason(5),
        Ineligible::Artifact {
            residency: Some(Residency::Staging { .. })
        }
    ));
    let Ineligible::Backends { refused } = reason(8) else {
        panic!("node 8 declares no lanes on CUDA")
    };
    assert!(matches!(refused[&Backend::Cuda], BackendIneligible::Profile { .. }));
    assert_eq!(
        reason(9),
        Ineligible::Backpressure {
            queue_depth: 64,
            max: 64
        }
    );
}

#[test]
fn ties_go_to_the_shorter_queue_then_the_lower_id() {
    let mut fleet = fleet();
    let plan = place(&fleet, &request(&[Backend::Cuda], 40)).unwrap();
    assert_eq!(
        selected(&plan),
        (node(1), Backend::Cuda, Some(1)),
        "70 GiB free on device 1 of node 1"
    );
    fleet.queue(1, 9);
    let plan = place(&fleet, &request(&[Backend::Cuda], 40)).unwrap();
    assert_eq!(selected(&plan).0, node(2), "same free memory, shorter queue");
    fleet.queue(2, 9);
    let plan = place(&fleet, &request(&[Backend::Cuda], 40)).unwrap();
    assert_eq!(selected(&plan).0, node(1), "a full tie goes to the lower id");
}

#[test]
fn a_fallback_backend_and_missing_telemetry_are_noted() {
    let mut fleet = fleet();
    let plan = place(&fleet, &request(&[Backend::Cuda, Backend::Cpu], 81)).unwrap();
    assert_eq!(selected(&plan).1, Backend::Cpu);
    assert!(plan.notes.contains(&PlacementNote::FallbackBackend {
        node: selected(&plan).0,
        used: Backend::Cpu,
        preferred: Backend::Cuda,
    }));
    fleet.telemetry.clear();
    let plan = place(&fleet, &request(&[Backend::Cuda], 75)).unwrap();
    assert_eq!(selected(&plan).0, node(1), "80 GiB declared on both devices");
    assert_eq!(plan.notes, [PlacementNote::EstimatedFromTotal { node: node(1) }]);
}

#[test]
fn excluded_nodes_are_skipped_until_the_reroutes_run_out() {
    let fleet = fleet();
    let tried = BTreeSet::from([node(1)]);
    let plan = place_whole_request(&fleet.facts(), &request(&[Backend::Cuda], 40), &tried, None).unwrap();
    assert_eq!(selected(&plan).0, node(2));
    let tried = BTreeSet::from([node(1), node(2), node(9)]);
    assert_eq!(
        place_whole_request(&fleet.facts(), &request(&[Backend::Cuda], 40), &tried, None),
        Err(PlacementRefusal::ReroutesExhausted {
            tried: 3,
            reroutes_max: 2
        })
    );
}

#[test]
fn a_hint_only_breaks_ties() {
    let mut fleet = fleet();
    fleet.queue(1, 2);
    let topology_digest = fleet.state.topology_digest();
    let hint = |preferred: &[u8], cluster_id, topology_digest| PlacementHint {
        cluster_id,
        topology_digest,
        preferred: preferred.iter().map(|byte| node(*byte)).collect(),
    };
    let ours = ClusterId([7; 16]);
    let needs = request(&[Backend::Cuda], 40);
    let with =
        |hint: &PlacementHint| place_whole_request(&fleet.facts(), &needs, &BTreeSet::new(), Some(hint)).unwrap();
    let plan = with(&hint(&[2], ours, topology_digest));
    assert_eq!(selected(&plan).0, node(2), "nodes 1 and 2 tie: 70 GiB free, queue 2");
    assert!(plan.notes.contains(&PlacementNote::Hint {
        outcome: HintOutcome::Accepted { node: node(2) }
    }));
    let plan = with(&hint(&[3, 9], ours, topology_digest));
    assert_eq!(selected(&plan).0, node(1), "ineligible nodes cannot be hinted in");
    assert!(plan.notes.contains(&PlacementNote::Hint {
        outcome: HintOutcome::Ignored {
            reason: HintIgnored::NotAmongBest {
                tied: vec![node(1), node(2)]
            }
        }
    }));
    let plan = with(&hint(&[2], ClusterId([8; 16]), topology_digest));
    assert_eq!(selected(&plan).0, node(1));
    assert!(matches!(
        &plan.notes[..],
        [PlacementNote::Hint {
            outcome: HintOutcome::Ignored {
                reason: HintIgnored::ClusterMismatch { .. }
            }
        }]
    ));
    let plan = with(&hint(&[2], ours, model()));
    assert!(matches!(
        &plan.notes[..],
        [PlacementNote::Hint {
            outcome: HintOutcome::Ignored {
                reason: HintIgnored::TopologyMismatch { .. }
            }
        }]
    ));
    fleet.queue(2, 3);
    let plan = place_whole_request(
        &fleet.facts(),
        &needs,
        &BTreeSet::new(),
        Some(&hint(&[2], ours, topology_digest)),
    )
    .unwrap();
    assert_eq!(
        selected(&plan).0,
        node(1),
        "node 1 ranks first on its own: the hint may not override it"
    );
}

#[test]
fn the_same_facts_give_the_same_plan_digest() {
    let first = place(&fleet(), &request(&[Backend::Cuda], 40)).unwrap();
    let second = place(&fleet(), &request(&[Backend::Cuda], 40)).unwrap();
    assert_eq!(first.plan_digest, second.plan_digest);
    assert_eq!(first.plan_digest, first.plan.digest());
    let mut moved = fleet();
    moved.queue(1, 9);
    let third = place(&moved, &request(&[Backend::Cuda], 40)).unwrap();
    assert_ne!(first.plan_digest, third.plan_digest);
}

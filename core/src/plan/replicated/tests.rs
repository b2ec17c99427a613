use std::collections::BTreeSet;

use super::*;
use crate::backend::Backend;
use crate::plan::fixture::{Fleet, GIB, model, node};
use crate::state::{MemberStatus, ReplicaSet};

/// Replicas 1-5 of the model (1-3 warm with queues 3, 1, 1; 4 staging; 5 offline),
/// warm minimum 2; node 6 is warm but not a replica.
fn fleet() -> Fleet {
    let mut fleet = Fleet::default();
    for byte in 1..=6 {
        fleet.member(byte, "H100", &[80]);
    }
    fleet
        .queue(1, 3)
        .queue(2, 1)
        .queue(3, 1)
        .residency(
            4,
            Residency::Staging {
                bytes_done: 250,
                bytes_total: 1000,
            },
        )
        .set(5, |member| member.status = MemberStatus::Offline);
    let set = ReplicaSet {
        replicas: (1..=5).map(node).collect(),
        warm_min: 2,
    };
    fleet.state.replica_sets.insert(model(), set);
    fleet
}

fn needs() -> RequestNeeds {
    RequestNeeds {
        artifact: model(),
        backends: vec![Backend::Cuda],
        device_memory_bytes: 10 * GIB,
    }
}

fn routed(fleet: &Fleet, tried: &[u8]) -> Result<(NodeId, Vec<NodeId>), PlacementRefusal> {
    let tried: BTreeSet<NodeId> = tried.iter().map(|byte| node(*byte)).collect();
    let placement = place_replicated(&fleet.facts(), &needs(), &tried)?;
    let ExecutionTopologyPlan::Replicated { selected, standbys, .. } = placement.plan else {
        panic!("a replicated plan");
    };
    Ok((selected.node, standbys.iter().map(|standby| standby.node).collect()))
}

#[test]
fn the_least_loaded_warm_replica_serves_and_the_others_stand_by() {
    let fleet = fleet();
    assert_eq!(routed(&fleet, &[]), Ok((node(2), vec![node(3), node(1)])));
}

#[test]
fn a_failed_replica_gives_way_to_the_first_standby() {
    let fleet = fleet();
    assert_eq!(routed(&fleet, &[2]), Ok((node(3), vec![node(1)])));
}

#[test]
fn fewer_warm_replicas_than_the_minimum_is_refused_with_each_replicas_state() {
    let fleet = fleet();
    let Err(PlacementRefusal::WarmBelowMinimum {
        warm,
        warm_min,
        replicas,
    }) = routed(&fleet, &[2, 3])
    else {
        panic!("one warm replica left of a minimum of two");
    };
    assert_eq!((warm, warm_min), (1, 2));
    assert_eq!(replicas[&node(1)], ReplicaWarmth::Warm);
    assert_eq!(
        replicas[&node(2)],
        ReplicaWarmth::Cold {
            reason: Ineligible::Excluded
        }
    );
    assert_eq!(
        replicas[&node(4)],
        ReplicaWarmth::Warming {
            progress_per_mille: 250
        }
    );
    assert_eq!(
        replicas[&node(5)],
        ReplicaWarmth::Cold {
            reason: Ineligible::NotReady {
                status: MemberStatus::Offline
            }
        }
    );
    assert!(!replicas.contains_key(&node(6)), "node 6 is not a replica");
}

#[test]
fn a_model_without_a_replica_set_is_refused() {
    let mut fleet = fleet();
    fleet.state.replica_sets.clear();
    assert_eq!(
        routed(&fleet, &[]),
        Err(PlacementRefusal::NoReplicaSet { artifact: model() })
    );
}

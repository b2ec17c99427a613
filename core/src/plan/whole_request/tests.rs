use std::collections::BTreeMap;

use super::*;
use crate::backend::DeviceProfile;
use crate::digest::DigestKind;
use crate::state::Member;

const GIB: u64 = 1024 * 1024 * 1024;

fn node(byte: u8) -> NodeId {
    NodeId([byte; 16])
}

fn gpus(total_gib: &[u64]) -> BackendReadiness {
    BackendReadiness::Ready {
        devices: total_gib
            .iter()
            .enumerate()
            .map(|(ordinal, gib)| DeviceProfile {
                ordinal: ordinal as u32,
                name: format!("gpu {gib} GiB"),
                uuid: format!("GPU-{ordinal}"),
                total_memory_bytes: gib * GIB,
                compute_capability: (9, 0),
            })
            .collect(),
    }
}

fn model() -> Digest {
    Digest::of_bytes(DigestKind::Policy, b"model weights")
}

/// A member: id byte, role, status, residency of the model, CUDA readiness, free GiB
/// per device.
type Situation = (
    u8,
    NodeRole,
    MemberStatus,
    Option<Residency>,
    Option<BackendReadiness>,
    &'static [u64],
);

/// Six members, one of each situation.
fn fleet() -> (ClusterState, BTreeMap<NodeId, Telemetry>) {
    let mut state = ClusterState::default();
    let mut telemetry = BTreeMap::new();
    let rows: [Situation; 6] = [
        (
            1,
            NodeRole::Both,
            MemberStatus::Ready,
            Some(Residency::Resident),
            Some(gpus(&[80, 80])),
            &[30, 70],
        ),
        (
            2,
            NodeRole::Executor,
            MemberStatus::Ready,
            Some(Residency::Resident),
            Some(gpus(&[80])),
            &[70],
        ),
        (
            3,
            NodeRole::Coordinator,
            MemberStatus::Ready,
            Some(Residency::Resident),
            Some(gpus(&[80])),
            &[80],
        ),
        (
            4,
            NodeRole::Both,
            MemberStatus::Draining,
            Some(Residency::Resident),
            Some(gpus(&[80])),
            &[80],
        ),
        (
            5,
            NodeRole::Both,
            MemberStatus::Ready,
            Some(Residency::Staging {
                progress_per_mille: 400,
            }),
            Some(gpus(&[80])),
            &[80],
        ),
        (
            6,
            NodeRole::Executor,
            MemberStatus::Ready,
            Some(Residency::Resident),
            Some(BackendReadiness::Refused {
                reason: BackendRefusal::NoDriver,
            }),
            &[],
        ),
    ];
    for (byte, role, status, residency, cuda, free_gib) in rows {
        let member = Member {
            role,
            status,
            voter: role.is_coordinator_capable(),
            stream_addr: None,
        };
        state.members.insert(node(byte), member);
        if let Some(residency) = residency {
            state
                .residency
                .entry(node(byte))
                .or_default()
                .insert(model(), residency);
        }
        let mut backends = BTreeMap::from([(Backend::Cpu, BackendReadiness::cpu())]);
        if let Some(cuda) = cuda {
            backends.insert(Backend::Cuda, cuda);
        }
        state.backends.insert(node(byte), backends);
        let free_memory_bytes = free_gib.iter().map(|gib| gib * GIB).collect();
        telemetry.insert(
            node(byte),
            Telemetry {
                free_memory_bytes,
                queue_depth: u32::from(byte),
            },
        );
    }
    (state, telemetry)
}

fn request(backends: &[Backend], gib: u64) -> WholeRequest {
    WholeRequest {
        artifact: model(),
        backends: backends.to_vec(),
        device_memory_bytes: gib * GIB,
    }
}

#[test]
fn the_decision_table_is_pinned() {
    let (state, telemetry) = fleet();
    let cases = [
        ("cuda 40 GiB", request(&[Backend::Cuda], 40)),
        ("cuda 75 GiB", request(&[Backend::Cuda], 75)),
        ("cuda then cpu, 75 GiB", request(&[Backend::Cuda, Backend::Cpu], 75)),
        ("metal", request(&[Backend::Metal], 1)),
    ];
    let table: Vec<_> = cases
        .iter()
        .map(|(name, request)| (*name, place_whole_request(&state, &telemetry, request)))
        .collect();
    insta::assert_json_snapshot!(table);
}

#[test]
fn ties_go_to_the_shorter_queue_then_the_lower_id() {
    let (mut state, mut telemetry) = fleet();
    let plan = place_whole_request(&state, &telemetry, &request(&[Backend::Cuda], 40)).unwrap();
    assert_eq!(
        (plan.node, plan.device),
        (node(1), Some(1)),
        "70 GiB free on device 1 of node 1"
    );
    telemetry.get_mut(&node(1)).unwrap().queue_depth = 9;
    let plan = place_whole_request(&state, &telemetry, &request(&[Backend::Cuda], 40)).unwrap();
    assert_eq!(plan.node, node(2), "same free memory, shorter queue");
    telemetry.get_mut(&node(2)).unwrap().queue_depth = 9;
    let plan = place_whole_request(&state, &telemetry, &request(&[Backend::Cuda], 40)).unwrap();
    assert_eq!(plan.node, node(1), "a full tie goes to the lower id");
    state.members.get_mut(&node(1)).unwrap().status = MemberStatus::Offline;
    let plan = place_whole_request(&state, &telemetry, &request(&[Backend::Cuda], 40)).unwrap();
    assert_eq!(plan.node, node(2));
}

#[test]
fn without_telemetry_the_declared_total_is_used_and_said() {
    let (state, _) = fleet();
    let plan = place_whole_request(&state, &BTreeMap::new(), &request(&[Backend::Cuda], 75)).unwrap();
    assert_eq!((plan.node, plan.free_memory_bytes), (node(1), 80 * GIB));
    assert!(plan.estimated_from_total);
}

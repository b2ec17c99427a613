//! Backend readiness reaches the log through the leader when a node's view changes;
//! free device memory travels as telemetry on append responses and is never logged.
//!
//! proves: F6

mod harness;

use harness::{Harness, consensus_configs};
use psionic_core::ConsensusEvent;
use psionic_core::backend::{
    Backend, BackendReadiness, BackendRefusal, DeviceProfile, DeviceReport, ExecutionProfile, Telemetry,
};
use psionic_core::{ClusterCommand, ClusterEvent, Event};

const GIB: u64 = 1024 * 1024 * 1024;

fn gpus(count: u32) -> BackendReadiness {
    BackendReadiness::Ready {
        devices: (0..count)
            .map(|ordinal| DeviceProfile {
                ordinal,
                name: "H100".into(),
                uuid: format!("GPU-{ordinal}"),
                total_memory_bytes: 80 * GIB,
                compute_capability: (9, 0),
            })
            .collect(),
        profile: ExecutionProfile::every_lane(),
    }
}

fn report(cuda: BackendReadiness, free_gib: &[u64]) -> DeviceReport {
    DeviceReport {
        readiness: [(Backend::Cpu, BackendReadiness::cpu()), (Backend::Cuda, cuda)].into(),
        telemetry: Telemetry {
            free_memory_bytes: free_gib.iter().map(|gib| gib * GIB).collect(),
            queue_depth: 3,
            links: Default::default(),
        },
    }
}

fn readiness_entries(harness: &Harness, index: usize) -> usize {
    harness
        .events_of(index)
        .filter(|event| {
            matches!(event, Event::Consensus(ConsensusEvent::Applied { fact: ClusterEvent::Applied { command, .. }, .. })
                if matches!(**command, ClusterCommand::SetBackendReadiness { .. }))
        })
        .count()
}

#[test]
fn each_nodes_readiness_is_committed_once_and_telemetry_reaches_the_leader() {
    let mut harness = Harness::new(consensus_configs(3, 3), 5);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 1) % 3;
    for index in 0..3 {
        let cuda = if index == follower {
            gpus(2)
        } else {
            BackendReadiness::Refused {
                reason: BackendRefusal::NoDriver,
            }
        };
        let now = harness.now;
        harness.nodes[index].report_devices(now, report(cuda, &[70, 75]));
    }
    harness.run_until_ms(harness.now.as_millis() + 2_000);

    let follower_id = harness.nodes[follower].node_id();
    for index in 0..3 {
        let state = harness.nodes[index].consensus().state();
        assert_eq!(
            state.backends.len(),
            3,
            "every node's readiness is recorded on node {index}"
        );
        assert_eq!(state.backends[&follower_id][&Backend::Cuda], gpus(2));
        assert!(state.backends[&follower_id][&Backend::Cpu].is_ready());
    }
    assert_eq!(
        readiness_entries(&harness, leader),
        6,
        "two backends per node, each proposed once"
    );

    let seen = harness.nodes[leader].devices().telemetry();
    assert_eq!(seen.len(), 3, "the leader hears every member's telemetry");
    assert_eq!(seen[&follower_id].telemetry.free_memory_bytes, vec![70 * GIB, 75 * GIB]);
    let on_follower = harness.nodes[follower].devices().telemetry();
    assert_eq!(on_follower.len(), 1, "a follower knows only its own telemetry");
}

#[test]
fn a_lost_driver_is_committed_and_telemetry_changes_are_not() {
    let mut harness = Harness::new(consensus_configs(3, 3), 9);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 2) % 3;
    let now = harness.now;
    harness.nodes[follower].report_devices(now, report(gpus(1), &[80]));
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    let entries_before = readiness_entries(&harness, leader);
    let applied_before = harness.nodes[leader].consensus().state().applied_index;

    let now = harness.now;
    harness.nodes[follower].report_devices(now, report(gpus(1), &[12]));
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert_eq!(
        harness.nodes[leader].consensus().state().applied_index,
        applied_before,
        "free memory is telemetry: nothing logged"
    );
    let follower_id = harness.nodes[follower].node_id();
    let seen = &harness.nodes[leader].devices().telemetry()[&follower_id];
    assert_eq!(seen.telemetry.free_memory_bytes, vec![12 * GIB]);

    let lost = BackendReadiness::Refused {
        reason: BackendRefusal::NoDriver,
    };
    let now = harness.now;
    harness.nodes[follower].report_devices(now, report(lost.clone(), &[]));
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert_eq!(
        readiness_entries(&harness, leader),
        entries_before + 1,
        "only the CUDA change"
    );
    for index in 0..3 {
        let state = harness.nodes[index].consensus().state();
        assert_eq!(state.backends[&follower_id][&Backend::Cuda], lost);
    }
}

#[test]
fn a_new_leader_commits_a_change_the_old_one_never_heard() {
    let mut harness = Harness::new(consensus_configs(3, 3), 13);
    let old_leader = harness.await_leader(3_000);
    let follower = (old_leader + 1) % 3;
    harness.isolate(old_leader);
    let now = harness.now;
    harness.nodes[follower].report_devices(now, report(gpus(4), &[1, 2, 3, 4]));
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    let follower_id = harness.nodes[follower].node_id();
    let new_leader = harness
        .leaders()
        .into_iter()
        .find(|index| *index != old_leader)
        .expect("a new leader");
    let state = harness.nodes[new_leader].consensus().state();
    assert_eq!(state.backends[&follower_id][&Backend::Cuda], gpus(4));
}

#[test]
fn metal_declared_ready_is_recorded_as_refused_for_cluster_execution() {
    let mut harness = Harness::new(consensus_configs(3, 3), 11);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 1) % 3;
    let mut metal = report(gpus(1), &[80]);
    metal.readiness.insert(Backend::Metal, gpus(1));
    let now = harness.now;
    harness.nodes[follower].report_devices(now, metal);
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    let follower_id = harness.nodes[follower].node_id();
    let recorded = &harness.nodes[leader].consensus().state().backends[&follower_id];
    assert_eq!(
        recorded[&Backend::Metal],
        BackendReadiness::Refused {
            reason: BackendRefusal::NotForClusterExecution {
                backend: Backend::Metal
            }
        }
    );
    assert_eq!(recorded[&Backend::Cuda], gpus(1), "CUDA is recorded as declared");
    let entries = readiness_entries(&harness, leader);
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    assert_eq!(
        readiness_entries(&harness, leader),
        entries,
        "the refusal is recorded once"
    );
}

#[test]
fn a_backend_the_executor_cannot_run_is_committed_refused_with_its_reason_whatever_the_probe_says() {
    use psionic_core::backend::CudaLibrary;
    let mut harness = Harness::new(consensus_configs(3, 3), 12);
    let leader = harness.await_leader(3_000);
    let follower = (leader + 1) % 3;
    let reason = BackendRefusal::NoLibrary {
        library: CudaLibrary::Cublas,
    };
    let profiles = [(Backend::Cpu, ExecutionProfile::dispatch())].into();
    let declared = report(gpus(2), &[80, 80])
        .with_refusals(&[(Backend::Cuda, reason.clone())].into())
        .with_profiles(&profiles);
    let now = harness.now;
    harness.nodes[follower].report_devices(now, declared);
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    let follower_id = harness.nodes[follower].node_id();
    let recorded = &harness.nodes[leader].consensus().state().backends[&follower_id];
    assert_eq!(recorded[&Backend::Cuda], BackendReadiness::Refused { reason });
    assert_eq!(
        recorded[&Backend::Cpu],
        BackendReadiness::Ready {
            devices: Vec::new(),
            profile: ExecutionProfile::dispatch()
        },
        "the node serves on the CPU"
    );
}

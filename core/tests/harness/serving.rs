//! Helpers of the dispatch and executing-node tests: a cluster with a model resident
//! on GPUs, requests for it, and what nodes accepted and finished.

use psionic_core::ServingEvent;
use std::collections::BTreeMap;

use psionic_core::backend::{Backend, BackendReadiness, DeviceProfile, DeviceReport, ExecutionProfile};
use psionic_core::dispatch::{ExecutionReport, InferenceRequest, RequestLane, RequestOutcome};
use psionic_core::plan::RequestNeeds;
use psionic_core::serving::Decision;
use psionic_core::state::Residency;
use psionic_core::{Digest, DigestKind, Event, RequestId};

use super::{Harness, consensus_configs};

pub const GIB: u64 = 1024 * 1024 * 1024;

pub fn model() -> Digest {
    Digest::of_bytes(DigestKind::Policy, b"dispatch model")
}

/// CUDA with one 80 GiB device running whole requests, and the CPU.
pub fn report(free_gib: u64) -> DeviceReport {
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
pub fn cluster(seed: u64, best: usize) -> (Harness, usize) {
    let mut harness = Harness::new(consensus_configs(3, 3), seed);
    let leader = harness.await_leader(3_000);
    prepare(&mut harness, |index| if index == best { 70 } else { 40 - index as u64 });
    (harness, leader)
}

/// Every node reports a GPU with `free_gib(index)` free and the model resident.
pub fn prepare(harness: &mut Harness, free_gib: impl Fn(usize) -> u64) {
    let now = harness.now;
    for index in 0..harness.nodes.len() {
        harness.nodes[index].report_devices(now, report(free_gib(index)));
        harness.nodes[index].hold_artifacts(now, [(model(), Residency::Resident)].into());
    }
    harness.run_until_ms(harness.now.as_millis() + 1_000);
}

pub fn request(byte: u8) -> InferenceRequest {
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
        stream: false,
        sampling: psionic_core::dispatch::Sampling::Greedy,
    }
}

/// Assignments node `index` accepted, with their authority.
pub fn accepted(harness: &Harness, index: usize) -> Vec<(psionic_core::consensus::Authority, RequestId)> {
    harness
        .events_of(index)
        .filter_map(|event| match event {
            Event::Serving(ServingEvent::DecisionAccepted {
                authority,
                decision: Decision::Assign(assignment),
            }) => Some((*authority, assignment.request)),
            _ => None,
        })
        .collect()
}

pub fn finished(harness: &Harness, index: usize, request: RequestId) -> Option<RequestOutcome> {
    harness.events_of(index).find_map(|event| match event {
        Event::Serving(ServingEvent::RequestFinished { request: id, outcome }) if *id == request => {
            Some(outcome.clone())
        }
        _ => None,
    })
}

/// The voters of `harness`'s cluster, as node 0 applied them: the verifier trusts them.
pub fn voters(harness: &Harness) -> std::collections::BTreeSet<psionic_core::NodeId> {
    harness.nodes[0].consensus().state().voters()
}

pub fn keys(harness: &Harness) -> BTreeMap<psionic_core::NodeId, ed25519_dalek::VerifyingKey> {
    harness
        .configs
        .iter()
        .map(|config| (config.identity.node_id(), config.identity.public_key()))
        .collect()
}

/// `bytes` as tokens, one each.
pub fn tokens_of(bytes: &[u8]) -> Vec<psionic_core::dispatch::Token> {
    bytes.iter().map(|byte| u32::from(*byte)).collect()
}

/// A completed report of `bytes`, a token each.
pub fn completed(bytes: &[u8]) -> ExecutionReport {
    let tokens = tokens_of(bytes);
    ExecutionReport::Completed {
        result_digest: psionic_core::dispatch::output_digest(&tokens),
        tokens,
    }
}

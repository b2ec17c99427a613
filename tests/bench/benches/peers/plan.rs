//! P1: placement at 10,000 nodes, next to a naive full scan of the same facts (each
//! member's status, residency, readiness and telemetry read once).

use std::collections::{BTreeMap, BTreeSet};

use psionic_core::backend::{Backend, BackendReadiness, DeviceProfile, ExecutionProfile, Telemetry};
use psionic_core::plan::{
    CandidateIndex, FactDigests, LayerShardedRequest, LinkPolicy, LinkTelemetry, PlanningFacts, RequestNeeds,
    ServingPolicy, Unreachable, place_layer_sharded, place_whole_request,
};
use psionic_core::state::{ClusterState, LinkClass, Member, MemberStatus, Residency};
use psionic_core::{ClusterId, Digest, DigestKind, NodeId, NodeRole};

pub const NODES: u32 = 10_000;
const GIB: u64 = 1024 * 1024 * 1024;
/// Each node declares LAN links to this many next ids.
const LINKED_AHEAD: u32 = 8;

/// A fleet of `NODES` ready executors with 8 H100s each, the model resident on all.
pub struct Fleet {
    state: ClusterState,
    telemetry: BTreeMap<NodeId, Telemetry>,
    links_measured: BTreeMap<(NodeId, NodeId), LinkTelemetry>,
    serving: ServingPolicy,
    digests: FactDigests,
    unreachable: BTreeSet<NodeId>,
    /// The candidate index the coordinator keeps.
    index: CandidateIndex,
    artifact: Digest,
}

fn node(index: u32) -> NodeId {
    let mut id = [0; 16];
    id[..4].copy_from_slice(&index.to_be_bytes());
    NodeId(id)
}

impl Fleet {
    pub fn new() -> Self {
        let artifact = Digest::of_bytes(DigestKind::Policy, b"bench model");
        let devices: Vec<DeviceProfile> = (0..8)
            .map(|ordinal| DeviceProfile {
                ordinal,
                name: "H100".into(),
                uuid: format!("GPU-{ordinal}"),
                total_memory_bytes: 80 * GIB,
                compute_capability: (9, 0),
            })
            .collect();
        let cuda = BackendReadiness::Ready {
            devices,
            profile: ExecutionProfile::every_lane(),
        };
        let mut state = ClusterState::default();
        let mut telemetry = BTreeMap::new();
        for index in 0..NODES {
            let member = Member {
                role: NodeRole::Executor,
                status: MemberStatus::Ready,
                voter: false,
                stream_addr: None,
            };
            state.members.insert(node(index), member);
            state
                .residency
                .insert(node(index), [(artifact, Residency::Resident)].into());
            state
                .backends
                .insert(node(index), [(Backend::Cuda, cuda.clone())].into());
            let free = (0..8)
                .map(|device| match index {
                    // The four with the most free memory sit next to each other, so
                    // their links are declared.
                    5_000..5_004 => 80 * GIB,
                    _ => (u64::from(index * 7 + device) % 70 + 10) * GIB,
                })
                .collect();
            let seen = Telemetry {
                free_memory_bytes: free,
                queue_depth: index % 5,
                links: Default::default(),
            };
            telemetry.insert(node(index), seen);
            for ahead in 1..=LINKED_AHEAD {
                if index + ahead < NODES {
                    state
                        .links
                        .entry(node(index))
                        .or_default()
                        .insert(node(index + ahead), LinkClass::Lan);
                }
            }
        }
        let serving = ServingPolicy::default();
        Self {
            index: CandidateIndex::build(&state, &telemetry),
            digests: FactDigests::of(&state, &serving),
            state,
            telemetry,
            links_measured: BTreeMap::new(),
            serving,
            unreachable: BTreeSet::new(),
            artifact,
        }
    }

    fn facts(&self) -> PlanningFacts<'_> {
        PlanningFacts {
            cluster_id: ClusterId([1; 16]),
            state: &self.state,
            telemetry: &self.telemetry,
            links_measured: &self.links_measured,
            serving: &self.serving,
            unreachable: Unreachable::Listed(&self.unreachable),
            digests: self.digests,
            index: Some(&self.index),
        }
    }

    /// Ours: one whole request of 40 GiB.
    pub fn place_whole(&self) {
        let needs = RequestNeeds {
            artifact: self.artifact,
            backends: vec![Backend::Cuda],
            device_memory_bytes: 40 * GIB,
        };
        std::hint::black_box(place_whole_request(&self.facts(), &needs, &BTreeSet::new(), None).unwrap());
    }

    /// Ours: 80 layers of 2 GiB over 4 stages, LAN or better.
    pub fn place_layers(&self) {
        let request = LayerShardedRequest {
            artifact: self.artifact,
            backends: vec![Backend::Cuda],
            shards: 4,
            layers: 80,
            bytes_per_layer: GIB / 2,
            kv_bytes_per_token_per_layer: 4096,
            activation_bytes_per_token: 16384,
            links: LinkPolicy {
                class_worst: LinkClass::Lan,
                rtt_us_max: None,
                bandwidth_mbps_min: None,
            },
        };
        std::hint::black_box(place_layer_sharded(&self.facts(), &request, &BTreeSet::new()).unwrap());
    }

    /// The limit: read every member's status, residency, readiness and telemetry once
    /// and keep the most free device.
    pub fn full_scan(&self) {
        let mut best = (0, node(0));
        for (id, member) in &self.state.members {
            let resident = self
                .state
                .residency
                .get(id)
                .and_then(|artifacts| artifacts.get(&self.artifact));
            let ready = self
                .state
                .backends
                .get(id)
                .and_then(|backends| backends.get(&Backend::Cuda));
            if member.status != MemberStatus::Ready || resident != Some(&Residency::Resident) || ready.is_none() {
                continue;
            }
            let free = self
                .telemetry
                .get(id)
                .and_then(|seen| seen.free_memory_bytes.iter().max());
            if let Some(free) = free
                && *free > best.0
            {
                best = (*free, *id);
            }
        }
        std::hint::black_box(best);
    }
}

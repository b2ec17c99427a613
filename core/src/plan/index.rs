//! An index of placement candidates, so that placing a whole request visits the best
//! few members instead of all of them.
//!
//! Invariant: for every member holding an artifact as resident, the index holds the
//! key `(most free memory on any device of a ready backend, queue depth)`; that key
//! bounds from above the rank the member can reach in whole-request placement (free
//! memory on the device chosen, shorter queue), so a scan in key order may stop at the
//! first key below the best rank found. The coordinator rebuilds it when the state
//! moves and updates one member's key when its telemetry arrives.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use super::facts::TelemetryLookup;
use crate::backend::{BackendReadiness, Telemetry};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::state::{ClusterState, Residency};

/// (most free memory, queue depth).
type Key = (u64, u32);

/// Members by artifact, best key first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CandidateIndex {
    built_at: u64,
    by_artifact: BTreeMap<Digest, BTreeSet<(Reverse<u64>, u32, NodeId)>>,
    keys: BTreeMap<NodeId, Key>,
}

impl CandidateIndex {
    /// The index of `state` with `telemetry`.
    pub fn build(state: &ClusterState, telemetry: &dyn TelemetryLookup) -> Self {
        let mut index = Self {
            built_at: state.applied_index,
            ..Self::default()
        };
        for node in state.members.keys() {
            index.update(state, *node, telemetry.telemetry(node));
        }
        index
    }

    /// The applied index of the state it was built from.
    pub fn built_at(&self) -> u64 {
        self.built_at
    }

    /// Re-keys `node` for new `telemetry` (its residency and readiness as at build).
    pub fn update(&mut self, state: &ClusterState, node: NodeId, telemetry: Option<&Telemetry>) {
        let resident: Vec<Digest> = state
            .residency
            .get(&node)
            .into_iter()
            .flatten()
            .filter(|(_, residency)| **residency == Residency::Resident)
            .map(|(artifact, _)| *artifact)
            .collect();
        let key = key_of(state, node, telemetry);
        let old = self.keys.insert(node, key);
        for artifact in resident {
            let set = self.by_artifact.entry(artifact).or_default();
            if let Some((free, queue)) = old {
                set.remove(&(Reverse(free), queue, node));
            }
            set.insert((Reverse(key.0), key.1, node));
        }
    }

    /// Members holding `artifact` as resident, best key first, with their key.
    pub(crate) fn candidates(&self, artifact: &Digest) -> impl Iterator<Item = (NodeId, u64, u32)> + '_ {
        self.by_artifact
            .get(artifact)
            .into_iter()
            .flatten()
            .map(|(Reverse(free), queue, node)| (*node, *free, *queue))
    }
}

/// The most free memory on any device of a ready backend (reported, else its
/// declared total), and the queue depth.
fn key_of(state: &ClusterState, node: NodeId, telemetry: Option<&Telemetry>) -> Key {
    let reported: &[u64] = telemetry.map_or(&[], |telemetry| &telemetry.free_memory_bytes);
    let free = state
        .backends
        .get(&node)
        .into_iter()
        .flat_map(|backends| backends.values())
        .filter_map(|readiness| match readiness {
            BackendReadiness::Ready { devices, .. } => Some(devices),
            BackendReadiness::Refused { .. } => None,
        })
        .flat_map(|devices| {
            devices
                .iter()
                .enumerate()
                .map(|(position, device)| reported.get(position).copied().unwrap_or(device.total_memory_bytes))
        })
        .max()
        .unwrap_or(0);
    (free, telemetry.map_or(0, |telemetry| telemetry.queue_depth))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    use super::*;
    use crate::backend::{Backend, BackendRefusal};
    use crate::plan::fixture::{Fleet, GIB, node};
    use crate::plan::{
        LayerShardedRequest, LinkPolicy, PlacementHint, RequestNeeds, TensorShardedRequest, place_layer_sharded,
        place_tensor_sharded, place_whole_request,
    };
    use crate::state::LinkClass;
    use crate::state::MemberStatus;

    /// A fleet drawn from `rng`: few distinct memory sizes and queue depths, so ties
    /// are common; some members draining, staging or without a driver.
    fn fleet(rng: &mut ChaCha8Rng) -> Fleet {
        let mut fleet = Fleet::default();
        for byte in 1..=60u8 {
            let mut draw = |below: u64| rng.next_u64() % below;
            let devices: Vec<u64> = (0..draw(4)).map(|_| 10 * (1 + draw(4))).collect();
            fleet.member(byte, "H100", &devices).queue(byte, draw(3) as u32);
            match draw(8) {
                0 => drop(fleet.set(byte, |member| member.status = MemberStatus::Draining)),
                1 => drop(fleet.residency(
                    byte,
                    Residency::Staging {
                        bytes_done: 5,
                        bytes_total: 1000,
                    },
                )),
                2 => drop(fleet.backend(
                    byte,
                    Backend::Cuda,
                    BackendReadiness::Refused {
                        reason: BackendRefusal::NoDriver,
                    },
                )),
                3 => drop(fleet.telemetry.remove(&node(byte))),
                _ => {}
            }
        }
        fleet
    }

    #[test]
    fn indexed_placement_equals_the_full_scan() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let fleet = fleet(&mut rng);
            let index = CandidateIndex::build(&fleet.state, &fleet.telemetry);
            let backends = if rng.next_u64() % 2 == 0 {
                vec![Backend::Cuda]
            } else {
                vec![Backend::Cuda, Backend::Cpu]
            };
            let needs = RequestNeeds {
                artifact: crate::plan::fixture::model(),
                backends,
                device_memory_bytes: (rng.next_u64() % 50) * GIB,
            };
            let excluded: BTreeSet<NodeId> = (0..rng.next_u64() % 3)
                .map(|_| node(1 + (rng.next_u64() % 60) as u8))
                .collect();
            let hint = PlacementHint {
                cluster_id: fleet.facts().cluster_id,
                topology_digest: fleet.facts().digests.topology,
                preferred: vec![node(1 + (rng.next_u64() % 60) as u8)],
            };
            let hint = (rng.next_u64() % 2 == 0).then_some(&hint);
            let scanned = place_whole_request(&fleet.facts(), &needs, &excluded, hint);
            let mut facts = fleet.facts();
            facts.index = Some(&index);
            let indexed = place_whole_request(&facts, &needs, &excluded, hint);
            assert_eq!(indexed, scanned);
        }
    }

    #[test]
    fn indexed_sharded_placement_equals_the_full_scan() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for round in 0..100 {
            let mut fleet = fleet(&mut rng);
            let bytes: Vec<u8> = (1..=60).collect();
            fleet.mesh(&bytes, if round % 3 == 0 { LinkClass::Wan } else { LinkClass::Lan });
            for _ in 0..40 {
                let (a, b) = (1 + (rng.next_u64() % 60) as u8, 1 + (rng.next_u64() % 60) as u8);
                if a != b {
                    fleet.link(a, b, LinkClass::Rdma);
                }
            }
            let index = CandidateIndex::build(&fleet.state, &fleet.telemetry);
            let links = LinkPolicy {
                class_worst: LinkClass::Lan,
                rtt_us_max: None,
                bandwidth_mbps_min: None,
            };
            let shards = 1 + (rng.next_u64() % 4) as u32;
            let layers = LayerShardedRequest {
                artifact: crate::plan::fixture::model(),
                backends: vec![Backend::Cuda],
                shards,
                layers: 8 + (rng.next_u64() % 40) as u32,
                bytes_per_layer: (1 + rng.next_u64() % 4) * GIB,
                kv_bytes_per_token_per_layer: 64,
                activation_bytes_per_token: 128,
                links,
            };
            let tensor = TensorShardedRequest {
                artifact: crate::plan::fixture::model(),
                backends: vec![Backend::Cuda],
                shards,
                heads: 24,
                hidden: 2_400,
                model_bytes: (rng.next_u64() % 100) * GIB,
                dtype_bytes: 2,
                links,
            };
            let none = BTreeSet::new();
            let mut indexed = fleet.facts();
            indexed.index = Some(&index);
            assert_eq!(
                place_layer_sharded(&indexed, &layers, &none),
                place_layer_sharded(&fleet.facts(), &layers, &none),
                "round {round}"
            );
            assert_eq!(
                place_tensor_sharded(&indexed, &tensor, &none),
                place_tensor_sharded(&fleet.facts(), &tensor, &none),
                "round {round}"
            );
        }
    }

    #[test]
    fn telemetry_updates_move_a_member_in_the_index() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut fleet = fleet(&mut rng);
        let mut index = CandidateIndex::build(&fleet.state, &fleet.telemetry);
        let top = index.candidates(&crate::plan::fixture::model()).next().unwrap().0;
        let telemetry = fleet.telemetry.entry(node(60)).or_default();
        telemetry.free_memory_bytes = vec![1_000 * GIB];
        telemetry.queue_depth = 0;
        let updated = fleet.telemetry.get(&node(60)).cloned();
        index.update(&fleet.state, node(60), updated.as_ref());
        let first = index.candidates(&crate::plan::fixture::model()).next().unwrap();
        if fleet.state.backends[&node(60)]
            .get(&Backend::Cuda)
            .is_some_and(BackendReadiness::is_ready)
        {
            assert_eq!(first, (node(60), 1_000 * GIB, 0));
        } else {
            assert_eq!(first.0, top, "node 60 has no ready device or does not hold the model");
        }
        assert_eq!(index, {
            let mut rebuilt = CandidateIndex::build(&fleet.state, &fleet.telemetry);
            rebuilt.built_at = index.built_at;
            rebuilt
        });
    }
}

use std::collections::BTreeSet;

use super::layer::split_layers;
use super::*;
use crate::plan::facts::{LinkPolicy, LinkShortfall};
use crate::plan::fixture::{Fleet, GIB, model, node};
use crate::plan::refusal::TensorAxis;
use crate::plan::topology::{ExecutionTopologyPlan, Placement};
use crate::state::{LinkClass, Residency};

const LAN_OR_BETTER: LinkPolicy = LinkPolicy {
    class_worst: LinkClass::Lan,
    rtt_us_max: None,
    bandwidth_mbps_min: None,
};

/// Nodes 1-4: H100s with 80, 40, 60, 40 GiB free, linked by LAN, with RDMA along
/// 1-3-2-4; nodes 5-6: A100s with 80 GiB free, same-host.
fn fleet() -> Fleet {
    let mut fleet = Fleet::default();
    for (byte, gib) in [(1, 80), (2, 40), (3, 60), (4, 40)] {
        fleet.member(byte, "H100", &[gib]);
    }
    fleet.member(5, "A100", &[80]).member(6, "A100", &[80]);
    fleet
        .mesh(&[1, 2, 3, 4], LinkClass::Lan)
        .link(1, 3, LinkClass::Rdma)
        .link(3, 2, LinkClass::Rdma)
        .link(2, 4, LinkClass::Rdma)
        .link(5, 6, LinkClass::SameHost);
    fleet
}

fn layers(shards: u32, layers: u32, gib_per_layer: u64) -> LayerShardedRequest {
    LayerShardedRequest {
        artifact: model(),
        backends: vec![Backend::Cuda],
        shards,
        layers,
        bytes_per_layer: gib_per_layer * GIB,
        kv_bytes_per_token_per_layer: 4096,
        activation_bytes_per_token: 16384,
        links: LAN_OR_BETTER,
    }
}

fn tensor(shards: u32, heads: u32, model_gib: u64) -> TensorShardedRequest {
    TensorShardedRequest {
        artifact: model(),
        backends: vec![Backend::Cuda],
        shards,
        heads,
        hidden: 8192,
        model_bytes: model_gib * GIB,
        dtype_bytes: 2,
        links: LAN_OR_BETTER,
    }
}

fn none() -> BTreeSet<NodeId> {
    BTreeSet::new()
}

fn stages(placement: &Placement) -> Vec<(NodeId, u32)> {
    let ExecutionTopologyPlan::LayerSharded { stages, .. } = &placement.plan else {
        panic!("a layer-sharded plan");
    };
    stages
        .iter()
        .map(|stage| (stage.selected.node, stage.layers.count))
        .collect()
}

#[test]
fn layers_split_by_free_memory_with_at_least_one_each() {
    assert_eq!(split_layers(10, &[80, 40, 40]), [4, 3, 3]);
    assert_eq!(split_layers(4, &[1000, 1, 1]), [2, 1, 1]);
    assert_eq!(split_layers(3, &[0, 0, 0]), [1, 1, 1]);
    assert_eq!(split_layers(7, &[0, 0]), [4, 3]);
    for (layers, weights) in [(80u32, vec![80u64, 41, 60, 39]), (9, vec![5, 5, 5])] {
        assert_eq!(split_layers(layers, &weights).iter().sum::<u32>(), layers);
    }
}

#[test]
fn stages_follow_the_cheapest_links() {
    let fleet = fleet();
    let placement = place_layer_sharded(&fleet.facts(), &layers(4, 22, 1), &none()).unwrap();
    let order: Vec<NodeId> = stages(&placement).iter().map(|(node, _)| *node).collect();
    assert_eq!(order, [node(1), node(3), node(2), node(4)], "the RDMA chain");
    assert_eq!(stages(&placement).iter().map(|(_, count)| *count).sum::<u32>(), 22);
    let ExecutionTopologyPlan::LayerSharded {
        handoffs,
        bytes_per_token,
        ..
    } = &placement.plan
    else {
        unreachable!()
    };
    assert!(handoffs.iter().all(|handoff| handoff.link == LinkClass::Rdma));
    assert_eq!(*bytes_per_token, 3 * 16384);
}

#[test]
fn the_group_with_the_most_memory_hosts_two_shards() {
    let fleet = fleet();
    let placement = place_layer_sharded(&fleet.facts(), &layers(2, 10, 1), &none()).unwrap();
    let hosts: BTreeSet<NodeId> = stages(&placement).iter().map(|(node, _)| *node).collect();
    assert_eq!(
        hosts,
        BTreeSet::from([node(5), node(6)]),
        "80 GiB each beats the H100s' 80 and 60"
    );
}

#[test]
fn links_below_policy_are_refused_with_each_failing_link() {
    let mut fleet = fleet();
    let mut request = layers(4, 8, 1);
    request.links.class_worst = LinkClass::Rdma;
    assert!(
        place_layer_sharded(&fleet.facts(), &request, &none()).is_ok(),
        "1-3-2-4 is RDMA all the way"
    );
    fleet.link(3, 2, LinkClass::Lan);
    let Err(PlacementRefusal::NoShardGroup { groups, .. }) = place_layer_sharded(&fleet.facts(), &request, &none())
    else {
        panic!("no order of 1-4 is RDMA all the way once 3-2 is LAN");
    };
    let h100 = groups.iter().find(|group| group.device_name == "H100").unwrap();
    let GroupShortfall::Links { refused } = &h100.shortfall else {
        panic!("{h100:?}")
    };
    let failing: Vec<_> = refused.iter().map(|refusal| (refusal.a, refusal.b)).collect();
    assert_eq!(
        failing,
        [
            (node(1), node(2)),
            (node(1), node(4)),
            (node(2), node(3)),
            (node(3), node(4))
        ]
    );
    assert!(refused.iter().all(|refusal| refusal.shortfall
        == LinkShortfall::Class {
            declared: LinkClass::Lan,
            worst: LinkClass::Rdma
        }));
}

#[test]
fn a_stage_whose_layers_do_not_fit_is_refused() {
    let fleet = fleet();
    let Err(PlacementRefusal::NoShardGroup { groups, .. }) =
        place_layer_sharded(&fleet.facts(), &layers(4, 10, 30), &none())
    else {
        panic!("4 H100 stages of 30 GiB layers cannot hold 10 layers");
    };
    assert!(
        groups
            .iter()
            .any(|group| matches!(group.shortfall, GroupShortfall::StageMemory { .. }))
    );
}

#[test]
fn a_node_still_staging_the_model_cannot_host_a_stage() {
    let mut fleet = fleet();
    fleet.residency(
        4,
        Residency::Staging {
            bytes_done: 10,
            bytes_total: 1000,
        },
    );
    let Err(PlacementRefusal::NoShardGroup { groups, ineligible, .. }) =
        place_layer_sharded(&fleet.facts(), &layers(4, 8, 1), &none())
    else {
        panic!("only three H100s hold the model");
    };
    assert!(ineligible.contains_key(&node(4)));
    assert!(
        groups
            .iter()
            .all(|group| group.shortfall == GroupShortfall::TooFewNodes { needed: 4 })
    );
}

#[test]
fn impossible_geometry_is_refused() {
    let fleet = fleet();
    let facts = fleet.facts();
    let geometry = |result: Result<Placement, PlacementRefusal>| match result {
        Err(PlacementRefusal::Geometry { shortfall }) => shortfall,
        other => panic!("a geometry refusal, not {other:?}"),
    };
    assert_eq!(
        geometry(place_layer_sharded(&facts, &layers(0, 8, 1), &none())),
        GeometryShortfall::NoShards
    );
    assert_eq!(
        geometry(place_layer_sharded(&facts, &layers(9, 80, 1), &none())),
        GeometryShortfall::TooManyShards {
            shards: 9,
            max: SHARDS_MAX
        }
    );
    assert_eq!(
        geometry(place_layer_sharded(&facts, &layers(4, 3, 1), &none())),
        GeometryShortfall::FewerLayersThanShards { layers: 3, shards: 4 }
    );
    assert_eq!(
        geometry(place_tensor_sharded(&facts, &tensor(3, 64, 30), &none())),
        GeometryShortfall::NotDivisible {
            axis: TensorAxis::Heads,
            size: 64,
            shards: 3
        }
    );
}

#[test]
fn tensor_shards_split_heads_and_hidden_over_a_full_mesh() {
    let fleet = fleet();
    let placement = place_tensor_sharded(&fleet.facts(), &tensor(4, 64, 100), &none()).unwrap();
    let ExecutionTopologyPlan::TensorSharded {
        shards,
        collective_bytes_per_token_per_layer,
        ..
    } = &placement.plan
    else {
        panic!("a tensor-sharded plan");
    };
    let spans: Vec<_> = shards
        .iter()
        .map(|shard| (shard.selected.node, shard.heads.first, shard.hidden.first))
        .collect();
    assert_eq!(
        spans,
        [
            (node(1), 0, 0),
            (node(2), 16, 2048),
            (node(3), 32, 4096),
            (node(4), 48, 6144)
        ]
    );
    assert_eq!(*collective_bytes_per_token_per_layer, 4 * 3 * 8192 * 2 / 4);
}

#[test]
fn an_incomplete_or_slow_mesh_is_refused() {
    let mut fleet = fleet();
    fleet.state.links.get_mut(&node(1)).unwrap().remove(&node(4));
    let Err(PlacementRefusal::NoShardGroup { groups, .. }) =
        place_tensor_sharded(&fleet.facts(), &tensor(4, 64, 100), &none())
    else {
        panic!("1 and 4 are not linked");
    };
    let h100 = groups.iter().find(|group| group.device_name == "H100").unwrap();
    let GroupShortfall::Links { refused } = &h100.shortfall else {
        panic!("{h100:?}")
    };
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (refused[0].a, refused[0].b, &refused[0].shortfall),
        (node(1), node(4), &LinkShortfall::Undeclared)
    );

    fleet.link(1, 4, LinkClass::Lan).measured(2, 3, 900, 10_000);
    let mut request = tensor(4, 64, 100);
    request.links.rtt_us_max = Some(500);
    let Err(PlacementRefusal::NoShardGroup { groups, .. }) = place_tensor_sharded(&fleet.facts(), &request, &none())
    else {
        panic!("2-3 measured 900 us");
    };
    assert!(groups.iter().any(|group| matches!(
        &group.shortfall,
        GroupShortfall::Links { refused } if refused[0].shortfall == LinkShortfall::Rtt { rtt_us: 900, max: 500 }
    )));
}

#[test]
fn the_sharded_decision_table_is_pinned() {
    let fleet = fleet();
    let facts = fleet.facts();
    let table = (
        place_layer_sharded(&facts, &layers(4, 22, 1), &none()),
        place_layer_sharded(&facts, &layers(3, 30, 3), &none()),
        place_tensor_sharded(&facts, &tensor(2, 64, 120), &none()),
        place_tensor_sharded(&facts, &tensor(4, 64, 400), &none()),
    );
    insta::assert_json_snapshot!(table);
}

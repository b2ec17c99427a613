//! Settings shared by the simulated nodes of every scenario.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use psionic_core::backend::{Backend, ExecutionProfile};
use psionic_core::{AdmissionToken, ClusterNamespace, ConsensusConfig, DiscoveryConfig, NodeRole, TrustPosture};
use psionic_net::execute::{Executor as _, ReferenceExecutor};
use psionic_net::{Clock, NodeSettings};
use psionic_sim::cluster::DISCOVERY_PORT;

/// What every simulated node measures itself running.
pub const SIM_BINARY: psionic_core::attestation::BinaryDigest = psionic_core::attestation::BinaryDigest([0x51; 32]);

/// What a stranger (a node running a binary the allowlist does not name) measures.
pub const UNAPPROVED_BINARY: psionic_core::attestation::BinaryDigest =
    psionic_core::attestation::BinaryDigest([0x66; 32]);

/// The admission token of the simulated cluster.
pub const CLUSTER_TOKEN: &[u8] = b"simulated lab admission token";
/// The admission token of the simulated cluster after `rotations` rotations.
pub fn cluster_token(rotations: u32) -> Vec<u8> {
    match rotations {
        0 => CLUSTER_TOKEN.to_vec(),
        n => format!("simulated lab admission token, rotation {n}").into_bytes(),
    }
}

/// The simulated cluster's id.
pub fn cluster_id() -> psionic_core::ClusterId {
    psionic_core::ClusterId::derive(&ClusterNamespace::new(NAMESPACE).expect("valid namespace"), GENESIS)
}

/// The simulated cluster's namespace.
const NAMESPACE: &str = "sim";
/// The simulated cluster's genesis value.
const GENESIS: &[u8] = b"sim-genesis";

/// The token intruders hold: another cluster's.
pub const INTRUDER_TOKEN: &[u8] = b"a token from somewhere else";

/// Filler bytes in each frame of a simulated node's bandwidth probe.
const SIM_LINK_PROBE_FRAME_BYTES: u32 = 4 * 1024;

/// Discovery address of the node whose IP ends in `octet`.
pub fn addr(octet: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, octet)), DISCOVERY_PORT)
}

/// Settings of the node at `addr(octet)`, holding `token`.
pub fn settings(octet: u8, seeds: Vec<SocketAddr>, token: &[u8], consensus: ConsensusConfig) -> NodeSettings {
    NodeSettings {
        data_dir: PathBuf::from("/data"),
        namespace: ClusterNamespace::new(NAMESPACE).expect("valid namespace"),
        cluster_genesis: GENESIS.to_vec(),
        role: NodeRole::Both,
        posture: TrustPosture::TrustedLan {
            token: AdmissionToken::new(token.to_vec()).expect("long enough"),
            next: None,
        },
        discovery_bind: addr(octet),
        stream_port: DISCOVERY_PORT + 1,
        seeds,
        // Bandwidth bursts run as in production but with small frames: madsim models
        // latency, not bandwidth, so what they measure means nothing beyond that they
        // ran, and 56 KiB frames would only be copied around.
        discovery: DiscoveryConfig {
            link_probe_frame_bytes: SIM_LINK_PROBE_FRAME_BYTES,
            ..DiscoveryConfig::default()
        },
        consensus,
        clock: Clock::new(),
        mutations: Default::default(),
        devices: Default::default(),
        executor: std::sync::Arc::new(ReferenceExecutor::simulated()),
        // Checks that need a node's state report ask its driver for one.
        artifacts: None,
        artifact_disk: None,
        state_watch_ms_min: psionic_net::STATE_WATCH_MS_MIN_DEFAULT,
        binary: Some(SIM_BINARY),
    }
}

/// A simulated node's executor that also claims Metal (an Apple machine in the fleet).
pub fn metal_executor() -> ReferenceExecutor {
    let mut profiles = ReferenceExecutor::simulated().profiles();
    profiles.insert(Backend::Metal, ExecutionProfile::dispatch());
    ReferenceExecutor::claiming(profiles)
}

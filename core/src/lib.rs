//! The sans-IO core of a Psionic cluster node.
//!
//! Every protocol decision lives here: identity, admission, the authenticated wire
//! envelope, replay protection and discovery. The core never reads a clock, never
//! draws OS randomness, never touches a socket or a file, and iterates only ordered
//! collections: the same inputs at the same instants give the same outputs.
//!
//! # Driving a node
//!
//! A driver (real sockets in `psionic-net`, simulated ones in `psionic-sim`) loops:
//!
//! 1. Build the [`Node`] with [`Node::new`] from a [`NodeConfig`] whose identity epoch
//!    has already been advanced and made durable.
//! 2. Drain [`Node::poll_output`] until it returns `None`, carrying out each
//!    [`Output`] in order: send every [`Output::Transmit`]; hand every
//!    [`Output::Event`] to the application.
//! 3. Wait until the first of: a datagram arrives, or the instant returned by
//!    [`Node::poll_timeout`] is reached.
//! 4. Call [`Node::handle`] with the current [`Instant`] and either
//!    [`Input::Datagram`] or [`Input::Timeout`], then go back to step 2.
//!
//! Two nodes driven against each other in memory, with a virtual clock that jumps to
//! the earliest deadline:
//!
//! ```
//! use psionic_core::{
//!     AdmissionToken, ClusterId, ClusterNamespace, ConsensusConfig, DiscoveryConfig, Durable, Input,
//!     Instant, Node, NodeConfig, NodeEpoch, NodeIdentity, NodeRole, Output, PeerHealth, TrustPosture,
//! };
//! use core::net::SocketAddr;
//!
//! let namespace = ClusterNamespace::new("lab").unwrap();
//! let token = AdmissionToken::new(b"a shared secret of the lab".to_vec()).unwrap();
//! let addrs: [SocketAddr; 2] = ["10.0.0.1:7400".parse().unwrap(), "10.0.0.2:7400".parse().unwrap()];
//! let config = |index: usize| NodeConfig {
//!     namespace: namespace.clone(),
//!     cluster_id: ClusterId::derive(&namespace, b"genesis"),
//!     identity: NodeIdentity::new([index as u8 + 1; 32], NodeEpoch(1)),
//!     role: NodeRole::Both,
//!     posture: TrustPosture::TrustedLan { token: token.clone(), next: None },
//!     seeds: vec![addrs[1 - index]],
//!     discovery: DiscoveryConfig::default(),
//!     rng_seed: index as u64,
//!     stream_port: None,
//!     consensus: ConsensusConfig::default(),
//!     durable: Durable::default(),
//!     binary: None,
//! };
//! let mut nodes = [Node::new(config(0), Instant::ZERO).unwrap(), Node::new(config(1), Instant::ZERO).unwrap()];
//! let mut now = Instant::ZERO;
//! for _ in 0..20 {
//!     // Step 2: carry out outputs in order (persist outputs would be made durable
//!     // here, before the transmits after them); transmits are delivered at once.
//!     let mut in_flight = Vec::new();
//!     for (index, node) in nodes.iter_mut().enumerate() {
//!         while let Some(output) = node.poll_output() {
//!             if let Output::Transmit(transmit) = output {
//!                 in_flight.push((addrs[index], transmit));
//!             }
//!         }
//!     }
//!     // Steps 3 and 4: deliver, or jump the clock to the earliest deadline.
//!     if in_flight.is_empty() {
//!         now = nodes.iter().filter_map(Node::poll_timeout).min().unwrap();
//!         for node in &mut nodes {
//!             if node.poll_timeout() <= Some(now) {
//!                 node.handle(now, Input::Timeout);
//!             }
//!         }
//!     }
//!     for (from, transmit) in in_flight {
//!         let target = addrs.iter().position(|addr| *addr == transmit.to).unwrap();
//!         nodes[target].handle(now, Input::Datagram { from, bytes: transmit.bytes });
//!     }
//! }
//! for node in &nodes {
//!     let peers: Vec<_> = node.discovery().peers().collect();
//!     assert_eq!(peers.len(), 1);
//!     assert_eq!(peers[0].1.health, PeerHealth::Reachable);
//! }
//! ```

pub mod artifacts;
pub mod attestation;
pub mod backend;
pub mod bounds;
pub mod candidates;
pub mod config;
pub mod consensus;
pub mod detached;
pub mod devices;
pub mod digest;
pub mod discovery;
pub mod dispatch;
#[cfg(any(fuzzing, test, feature = "fuzz-harness"))]
#[doc(hidden)]
pub mod fuzz;
pub mod identity;
pub mod io;
pub mod limits;
pub mod memory_disk;
pub mod node;
pub mod plan;
pub mod receipt;
pub mod refusal;
pub mod replay;
pub mod serving;
pub mod staging;
pub mod state;
pub mod status;
pub mod time;
pub mod timer;
pub mod token;
pub mod transport;
pub mod trust;
pub mod wire;

pub use backend::{Backend, BackendReadiness, BackendRefusal, DeviceProfile, DeviceReport, Telemetry};
pub use config::{ConfigError, DiscoveryConfig, NodeConfig};
pub use consensus::{ConsensusConfig, Durable, HardState, RoleKind};
pub use digest::{Digest, DigestKind};
pub use discovery::PeerHealth;
pub use identity::{
    AdmissionToken, ClusterId, ClusterNamespace, NodeEpoch, NodeId, NodeIdentity, NodeRole, PublicKey, RequestId,
};
pub use io::{ConsensusEvent, DiscoveryEvent, Event, Input, Output, ServingEvent, Transmit, TransportClass};
pub use node::Node;
pub use refusal::{ConsensusRefusal, FrameRefusal, Refusal, RefusalCounters, RefusalKind, ServingRefusal};
pub use state::{ClusterCommand, ClusterEvent, ClusterState, ProposalId};
pub use status::{
    CandidateAdmission, CandidateStatus, MemberReport, NodeStatus, PeerStatus, StateReport, TelemetryReport,
};
pub use time::Instant;
pub use wire::TrustPosture;

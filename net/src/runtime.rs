//! Starting a node: identity, socket, core, driver task.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use psionic_core::{
    ClusterId, ClusterNamespace, ConfigError, DiscoveryConfig, Node, NodeConfig, NodeEpoch, NodeId, NodeRole,
    NodeStatus, TrustPosture,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::driver::Driver;
use crate::entropy;
use crate::identity_file::{IdentityError, IdentityFile};
use crate::observer::Observer;
use crate::udp::UdpSocket;

/// Everything needed to start a node, after configuration files were read.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Holds the identity file.
    pub data_dir: PathBuf,
    /// Cluster namespace.
    pub namespace: ClusterNamespace,
    /// Cluster genesis value (fixed when the cluster was created).
    pub cluster_genesis: Vec<u8>,
    /// This node's role.
    pub role: NodeRole,
    /// Trust posture.
    pub posture: TrustPosture,
    /// Where discovery listens.
    pub discovery_bind: SocketAddr,
    /// Discovery seed addresses.
    pub seeds: Vec<SocketAddr>,
    /// Discovery timing.
    pub discovery: DiscoveryConfig,
    /// The node's clock.
    pub clock: Clock,
}

/// Why a node could not start. Nothing has been sent when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The identity file could not be used.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The discovery socket could not be bound.
    #[error(
        "cannot bind discovery socket {addr}: {source} (is another process using it? pick another `discovery_bind`)"
    )]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// A configuration value breaks a rule.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
}

/// A started node.
#[derive(Debug)]
pub struct RunningNode {
    /// Its id.
    pub node_id: NodeId,
    /// The epoch of this life (already durable).
    pub epoch: NodeEpoch,
    /// Where discovery listens.
    pub discovery_addr: SocketAddr,
    /// The latest status, updated whenever the core reports an event.
    pub status: watch::Receiver<NodeStatus>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningNode {
    /// Stops the driver and waits for it.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Loads and advances the identity (durably), binds the discovery socket, and spawns
/// the driver. The node speaks only after its new epoch is on disk.
pub async fn start(settings: NodeSettings, observer: Arc<dyn Observer>) -> Result<RunningNode, StartError> {
    settings.discovery.validate()?;
    let identity_file = IdentityFile::in_dir(&settings.data_dir);
    identity_file.load().await?;
    let socket = UdpSocket::bind(settings.discovery_bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: settings.discovery_bind,
            source,
        })?;
    let discovery_addr = socket.local_addr().map_err(|source| StartError::Bind {
        addr: settings.discovery_bind,
        source,
    })?;
    let identity = identity_file.load_and_advance().await?;
    let (node_id, epoch) = (identity.node_id(), identity.epoch());
    let config = NodeConfig {
        cluster_id: ClusterId::derive(&settings.namespace, &settings.cluster_genesis),
        namespace: settings.namespace,
        identity,
        role: settings.role,
        posture: settings.posture,
        seeds: settings.seeds,
        discovery: settings.discovery,
        rng_seed: entropy::random_u64(),
    };
    let core = Node::new(config, settings.clock.now())?;
    let (status_tx, status) = watch::channel(core.status());
    let (shutdown, shutdown_rx) = watch::channel(false);
    observer.on_start(node_id, epoch);
    let driver = Driver {
        core,
        socket,
        clock: settings.clock,
        observer,
        status: status_tx,
        shutdown: shutdown_rx,
    };
    let task = tokio::spawn(driver.run());
    Ok(RunningNode {
        node_id,
        epoch,
        discovery_addr,
        status,
        shutdown,
        task,
    })
}

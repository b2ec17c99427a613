//! A simulated cluster: madsim nodes running the real driver, and the faults the
//! harness can inject into them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use psionic_core::{NodeEpoch, NodeId, NodeIdentity, PeerHealth};
use psionic_net::{IdentityError, IdentityFile, NodeSettings};

use crate::observer::{Shared, SimObserver};
use crate::report::{Condition, Reached, Violation};
use crate::trace::{Fault, Trace, TraceKind};

/// Port every simulated node's discovery listens on.
pub const DISCOVERY_PORT: u16 = 7400;
/// Address the harness sends raw frames from.
const HARNESS_IP: [u8; 4] = [10, 0, 255, 1];
/// How often conditions are re-evaluated while awaited.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How to build one simulated node.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Name used in traces (`n1`, ...).
    pub name: String,
    /// The node's secret key (fixed by the harness so ids are known up front).
    pub secret_key: [u8; 32],
    /// Its settings; `discovery_bind` carries its IP.
    pub settings: NodeSettings,
    /// Whether it holds the cluster's credentials (a node that does not is expected to
    /// be refused by everyone and must never be listed).
    pub honest: bool,
}

struct SimNode {
    handle: NodeHandle,
    spec: NodeSpec,
    node_id: NodeId,
}

/// A running simulated cluster.
pub struct SimCluster {
    runtime: Handle,
    net: Arc<NetSim>,
    nodes: BTreeMap<String, SimNode>,
    killed: BTreeSet<String>,
    isolated: BTreeSet<String>,
    shared: Arc<Shared>,
    harness: NodeHandle,
    reached: Vec<Reached>,
    faults: usize,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCluster")
            .field("nodes", &self.nodes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl SimCluster {
    /// An empty cluster recording into `trace`. Call inside the madsim runtime.
    pub fn new(trace: Trace) -> Self {
        let runtime = Handle::current();
        let harness = runtime
            .create_node()
            .name("harness")
            .ip(IpAddr::from(HARNESS_IP))
            .build();
        Self {
            net: NetSim::current(),
            runtime,
            nodes: BTreeMap::new(),
            killed: BTreeSet::new(),
            isolated: BTreeSet::new(),
            shared: Arc::new(Shared::new(trace)),
            harness,
            reached: Vec::new(),
            faults: 0,
        }
    }

    /// Starts a node. A dishonest node's id is banned from every peer table.
    pub fn add_node(&mut self, spec: NodeSpec) {
        let node_id = NodeIdentity::new(spec.secret_key, NodeEpoch(0)).node_id();
        if !spec.honest {
            self.shared.state().banned.insert(node_id);
        }
        let observer = Arc::new(SimObserver {
            name: spec.name.clone(),
            shared: self.shared.clone(),
        });
        let boot = spec.clone();
        let handle = self
            .runtime
            .create_node()
            .name(spec.name.clone())
            .ip(spec.settings.discovery_bind.ip())
            .init(move || boot_node(boot.clone(), observer.clone()))
            .build();
        self.nodes.insert(spec.name.clone(), SimNode { handle, spec, node_id });
    }

    /// The id of node `name`.
    pub fn node_id(&self, name: &str) -> NodeId {
        self.node(name).node_id
    }

    /// Simulated milliseconds since the cluster was created.
    pub fn now_ms(&self) -> u64 {
        self.shared.now_ms()
    }

    /// Cuts every link to and from `name`.
    pub fn isolate(&mut self, name: &str) {
        self.net.clog_node(self.node(name).handle.id());
        self.isolated.insert(name.to_owned());
        self.fault(Fault::Isolate { node: name.to_owned() });
    }

    /// Restores every cut link.
    pub fn heal(&mut self) {
        for name in std::mem::take(&mut self.isolated) {
            self.net.unclog_node(self.node(&name).handle.id());
        }
        self.fault(Fault::Heal);
    }

    /// Kills `name`; its disk survives.
    pub fn kill(&mut self, name: &str) {
        self.runtime.kill(self.node(name).handle.id());
        self.killed.insert(name.to_owned());
        self.fault(Fault::Kill { node: name.to_owned() });
    }

    /// Starts a killed node again.
    pub fn restart(&mut self, name: &str) {
        self.runtime.restart(self.node(name).handle.id());
        self.killed.remove(name);
        self.fault(Fault::Restart { node: name.to_owned() });
    }

    /// Sends every captured frame that `name` sent in `epoch` to `to`, from the harness
    /// address. Returns how many were sent.
    pub async fn replay(&mut self, name: &str, epoch: NodeEpoch, to: &str) -> usize {
        let frames = self
            .shared
            .state()
            .captured
            .get(&(name.to_owned(), epoch))
            .cloned()
            .unwrap_or_default();
        let target = self.node(to).spec.settings.discovery_bind;
        let count = frames.len();
        self.fault(Fault::Replay {
            node: name.to_owned(),
            epoch,
            to: to.to_owned(),
        });
        let sent = self.harness.spawn(async move {
            let socket = psionic_net::udp::UdpSocket::bind(SocketAddr::from((HARNESS_IP, 0))).await?;
            for frame in frames {
                psionic_net::udp::send_to(&socket, &frame.bytes, target).await?;
            }
            std::io::Result::Ok(())
        });
        sent.await.expect("harness task").expect("harness socket");
        count
    }

    /// Waits until `condition` holds, at most `timeout`. Records the wait either way.
    pub async fn wait_for(&mut self, condition: Condition, timeout: Duration) {
        let since_ms = self.now_ms();
        let deadline_ms = since_ms + timeout.as_millis() as u64;
        loop {
            if self.holds(&condition) {
                self.reached.push(Reached {
                    condition,
                    after_ms: self.now_ms() - since_ms,
                });
                return;
            }
            if self.now_ms() >= deadline_ms {
                self.shared.state().violations.push(Violation::NotReached {
                    condition,
                    since_ms,
                    deadline_ms,
                });
                return;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Every violation found so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.shared.state().violations.clone()
    }

    /// Conditions reached so far.
    pub fn reached(&self) -> &[Reached] {
        &self.reached
    }

    /// Faults injected so far.
    pub fn faults(&self) -> usize {
        self.faults
    }

    /// Whether `condition` holds now.
    pub fn holds(&self, condition: &Condition) -> bool {
        let state = self.shared.state();
        let views = &state.views;
        let live = self.live_honest();
        let health = |viewer: &str, subject: &str| views.peer(viewer, self.node_id(subject)).map(|view| view.health);
        match condition {
            Condition::FullMembership => live.iter().all(|viewer| {
                live.iter()
                    .filter(|subject| *subject != viewer)
                    .all(|subject| health(viewer, subject) == Some(PeerHealth::Reachable))
            }),
            Condition::Isolated { subject } => live.iter().filter(|viewer| *viewer != subject).all(|other| {
                health(other, subject) == Some(PeerHealth::Unreachable)
                    && health(subject, other) == Some(PeerHealth::Unreachable)
            }),
            Condition::RejoinedAtEpoch { subject, epoch } => {
                live.iter().filter(|viewer| *viewer != subject).all(|viewer| {
                    views
                        .peer(viewer, self.node_id(subject))
                        .is_some_and(|view| view.health == PeerHealth::Reachable && view.epoch >= *epoch)
                })
            }
            Condition::Refused { viewer, sender, kind } => state.refusals.contains(&(viewer.clone(), *sender, *kind)),
        }
    }

    /// Names of honest nodes that are not killed, in order.
    pub fn live_honest(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(name, node)| node.spec.honest && !self.killed.contains(*name))
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn node(&self, name: &str) -> &SimNode {
        self.nodes
            .get(name)
            .unwrap_or_else(|| panic!("no simulated node named {name}"))
    }

    fn fault(&mut self, fault: Fault) {
        self.faults += 1;
        self.shared.record("harness", TraceKind::Fault { fault });
    }
}

/// The life of one simulated node: create its identity on first boot, then run the
/// real driver until killed.
async fn boot_node(spec: NodeSpec, observer: Arc<SimObserver>) {
    let file = IdentityFile::in_dir(&spec.settings.data_dir);
    match file.load().await {
        Ok(_) => {}
        Err(IdentityError::Missing { .. }) => {
            file.create(spec.secret_key)
                .await
                .expect("simulated disk accepts the identity");
        }
        Err(error) => panic!("{}: {error}", spec.name),
    }
    let node = psionic_net::start(spec.settings, observer)
        .await
        .unwrap_or_else(|error| panic!("{}: {error}", spec.name));
    std::future::pending::<()>().await;
    drop(node);
}

//! A simulated cluster: madsim nodes running the real driver, and the faults the
//! harness can inject into them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use psionic_core::consensus::Mutations;
use psionic_core::{NodeEpoch, NodeId, NodeIdentity};
use psionic_cuda::CudaReadiness;
use psionic_net::{DeviceSource, IdentityError, IdentityFile, NodeSettings};
use tokio::sync::watch;

mod conditions;
mod credentials;
mod devices;
mod disk;
mod faults;
mod history;
mod impostor;
mod key_rotation;
mod links;
mod operator;
mod reports;
mod requests;
mod rotation;
mod staging;
mod workload;

pub use disk::DiskAction;
pub use history::{ClientOperation, WORKLOAD_KEYS};
pub use impostor::ImpostorSent;
pub use requests::{RequestEnd, RequestLedger, RequestMix, SUBMISSIONS_MAX};
pub use staging::{SIM_MODEL_BYTES, model_artifact, sim_model_files};

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
    /// Whether the cluster may admit it (a token holder running a binary the
    /// allowlist does not name may wait as a candidate, never be a member; it is left
    /// out of liveness).
    pub admissible: bool,
    /// The GPUs its driver reports (the node's device source is set from this).
    pub devices: CudaReadiness,
    /// Its artifact disk, kept across restarts (its staging work runs here).
    pub artifacts: Arc<std::sync::Mutex<psionic_core::staging::MemoryArtifacts>>,
}

struct SimNode {
    handle: NodeHandle,
    spec: NodeSpec,
    node_id: NodeId,
    /// What the node's driver reports now.
    devices: watch::Sender<CudaReadiness>,
}

/// A running simulated cluster.
pub struct SimCluster {
    runtime: Handle,
    net: Arc<NetSim>,
    nodes: BTreeMap<String, SimNode>,
    killed: BTreeSet<String>,
    isolated: BTreeSet<String>,
    /// Directed links cut (from, to).
    clogged_links: Vec<(String, String)>,
    paused: BTreeSet<String>,
    /// Killed nodes, killed longest ago first.
    kill_order: Vec<String>,
    /// Nodes removed from the membership (stopped for good).
    retired: BTreeSet<String>,
    /// Loss and latency range in force.
    network: (f64, (u64, u64)),
    /// Bugs planted in every node added from now on.
    mutations: Mutations,
    workload: Option<Arc<std::sync::atomic::AtomicBool>>,
    requests: Option<Arc<std::sync::atomic::AtomicBool>>,
    shared: Arc<Shared>,
    harness: NodeHandle,
    reached: Vec<Reached>,
    faults: usize,
    /// The copies asked for by `stage` steps: node and artifact, latest last.
    staged: Vec<(String, psionic_core::Digest)>,
    /// The credential the harness's operator commands name (the workload's stays
    /// [`psionic_core::state::LOCAL_CREDENTIAL`]).
    operator_credential: String,
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
            clogged_links: Vec::new(),
            paused: BTreeSet::new(),
            kill_order: Vec::new(),
            retired: BTreeSet::new(),
            network: (0.0, (1, 10)),
            mutations: Mutations::default(),
            workload: None,
            requests: None,
            shared: Arc::new(Shared::new(trace)),
            harness,
            reached: Vec::new(),
            faults: 0,
            staged: Vec::new(),
            operator_credential: psionic_core::state::LOCAL_CREDENTIAL.to_owned(),
        }
    }

    /// Plants `mutations` in every node added from now on.
    pub fn set_mutations(&mut self, mutations: Mutations) {
        self.mutations = mutations;
    }

    /// Starts a node. A dishonest node's id is banned from every peer table.
    pub fn add_node(&mut self, mut spec: NodeSpec) {
        spec.settings.mutations = self.mutations;
        let (devices, reported) = watch::channel(spec.devices.clone());
        spec.settings.devices = DeviceSource::Given(reported);
        let node_id = NodeIdentity::new(spec.secret_key, NodeEpoch(0)).node_id();
        if !spec.honest {
            self.shared.state().invariants.banned.insert(node_id);
        }
        if !spec.admissible {
            self.shared.state().invariants.unlisted.insert(node_id);
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
        let node = SimNode {
            handle,
            spec,
            node_id,
            devices,
        };
        self.nodes.insert(node.spec.name.clone(), node);
    }

    /// The id of node `name`.
    pub fn node_id(&self, name: &str) -> NodeId {
        self.node(name).node_id
    }

    /// Simulated milliseconds since the cluster was created.
    pub fn now_ms(&self) -> u64 {
        self.shared.now_ms()
    }

    /// Kills `name`; its disk survives. A paused node is resumed first, so that it
    /// starts running when restarted.
    pub fn kill(&mut self, name: &str) {
        let id = self.node(name).handle.id();
        if self.paused.remove(name) {
            self.runtime.resume(id);
        }
        self.runtime.kill(id);
        self.killed.insert(name.to_owned());
        self.kill_order.push(name.to_owned());
        let mut state = self.shared.state();
        state.clients.remove(name);
        state.leaders.remove(name);
        drop(state);
        self.fault(Fault::Kill { node: name.to_owned() });
    }

    /// Starts a killed node again.
    pub fn restart(&mut self, name: &str) {
        self.runtime.restart(self.node(name).handle.id());
        self.killed.remove(name);
        self.kill_order.retain(|killed| killed != name);
        self.fault(Fault::Restart { node: name.to_owned() });
    }

    /// The epoch of `name`'s `life`-th start (1: its first).
    pub fn epoch_of_life(&self, name: &str, life: u64) -> Option<NodeEpoch> {
        self.shared.trace.epoch_of_life(name, life)
    }

    /// Killed nodes, killed longest ago first.
    pub fn killed(&self) -> &[String] {
        &self.kill_order
    }

    /// Names of every node, honest or not, in order.
    pub fn names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Waits until `condition` holds, at most `timeout`. Records the wait either way.
    pub async fn wait_for(&mut self, condition: Condition, timeout: Duration) {
        let since_ms = self.now_ms();
        let deadline_ms = since_ms + timeout.as_millis() as u64;
        loop {
            if self.holds(&condition).await {
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

    /// Records a violation found by the harness itself.
    pub fn violate(&self, violation: Violation) {
        self.shared.state().violations.push(violation);
    }

    /// Conditions reached so far.
    pub fn reached(&self) -> &[Reached] {
        &self.reached
    }

    /// Faults injected so far.
    pub fn faults(&self) -> usize {
        self.faults
    }

    /// Frames every node has handed to its transports so far.
    pub fn frames_sent(&self) -> crate::report::FramesSent {
        self.shared.state().frames_sent
    }

    /// The term `name` last led.
    pub fn led_term(&self, name: &str) -> Option<u64> {
        self.shared.state().led_term.get(name).copied()
    }

    /// Crashes the leader `name` and measures the failover: milliseconds from the
    /// crash to the first commit of a later term, within `timeout`.
    pub async fn crash_leader_and_measure(&mut self, name: &str, timeout: Duration) -> Option<u64> {
        let term = self.led_term(name)?;
        let crashed_at = self.now_ms();
        self.kill(name);
        self.wait_for(Condition::CommittedAfterTerm { term }, timeout).await;
        let state = self.shared.state();
        state
            .first_apply_of_term
            .range(term + 1..)
            .next()
            .map(|(_, at)| at - crashed_at)
    }

    /// Highest index applied anywhere.
    pub fn highest_applied(&self) -> u64 {
        self.shared.state().invariants.committed.highest()
    }

    /// Names of honest nodes that are not killed, retired, or refusing to start, in
    /// order.
    pub fn live_honest(&self) -> Vec<String> {
        self.live_honest_in(&self.shared.state())
    }

    /// [`Self::live_honest`], with the shared state already locked.
    pub(super) fn live_honest_in(&self, state: &crate::observer::SharedState) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(name, node)| {
                node.spec.honest
                    && node.spec.admissible
                    && !self.killed.contains(*name)
                    && !self.retired.contains(*name)
                    && !state.broken.contains(*name)
                    && !state.removed.contains(&node.node_id)
            })
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

/// The life of one simulated node: lose the writes its last life never synced, create
/// its identity on first boot, then run the real driver until killed.
async fn boot_node(mut spec: NodeSpec, observer: Arc<SimObserver>) {
    if let Some(posture) = observer.shared.state().postures.get(&spec.name) {
        spec.settings.posture = posture.clone();
    }
    let writes = psionic_net::storage::sim_disk::lose_unsynced_writes()
        .await
        .expect("the simulated disk restores what was synced");
    if writes > 0 {
        observer
            .shared
            .record(&spec.name, TraceKind::UnsyncedWritesLost { writes });
    }
    // Kept across restarts; `start` loads it (deriving a key costs a scalar
    // multiplication, so it is not loaded here as well).
    match IdentityFile::in_dir(&spec.settings.data_dir)
        .create(spec.secret_key)
        .await
    {
        Ok(_) | Err(IdentityError::AlreadyExists { .. }) => {}
        Err(error) => panic!("{}: {error}", spec.name),
    }
    disk::carry_out(&spec, &observer).await;
    spec.settings.artifact_disk = Some(spec.artifacts.clone());
    let node = match psionic_net::start(spec.settings.clone(), observer.clone()).await {
        Ok(node) => node,
        Err(error) => return disk::refused_to_start(&spec.name, &error, &observer),
    };
    {
        let mut state = observer.shared.state();
        state.broken.remove(&spec.name);
        state.clients.insert(spec.name.clone(), node.client());
    }
    std::future::pending::<()>().await;
    drop(node);
}

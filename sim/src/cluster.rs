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
    clogged_links: Vec<(String, String)>,
    workload: Option<Arc<std::sync::atomic::AtomicBool>>,
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
            clogged_links: Vec::new(),
            workload: None,
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
        for (a, b) in std::mem::take(&mut self.clogged_links) {
            let (a_id, b_id) = (self.node(&a).handle.id(), self.node(&b).handle.id());
            self.net.unclog_link(a_id, b_id);
            self.net.unclog_link(b_id, a_id);
        }
        self.fault(Fault::Heal);
    }

    /// Kills `name`; its disk survives.
    pub fn kill(&mut self, name: &str) {
        self.runtime.kill(self.node(name).handle.id());
        self.killed.insert(name.to_owned());
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
            Condition::OneLeader => {
                let leaders: BTreeSet<_> = live
                    .iter()
                    .map(|name| state.leaders.get(name).copied().flatten())
                    .collect();
                leaders.len() == 1 && leaders.iter().all(Option::is_some) && self.current_leader_in(&state).is_some()
            }
            Condition::Converged { index } => {
                let applied: BTreeSet<_> = live.iter().map(|name| state.applied.get(name).copied()).collect();
                applied.len() == 1
                    && applied
                        .iter()
                        .all(|entry| entry.is_some_and(|(applied, _)| applied >= *index))
            }
            Condition::CommittedAfterTerm { term } => state.first_apply_of_term.range(term + 1..).next().is_some(),
        }
    }

    /// The live node that leads by its own account, if exactly one is followed by all.
    pub fn current_leader(&self) -> Option<String> {
        self.current_leader_in(&self.shared.state())
    }

    fn current_leader_in(&self, state: &crate::observer::SharedState) -> Option<String> {
        self.live_honest()
            .into_iter()
            .find(|name| state.leaders.get(name).copied().flatten() == Some(self.node_id(name)))
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

    /// Cuts every link between the two groups.
    pub fn partition(&mut self, minority: &[&str], majority: &[&str]) {
        for a in minority {
            for b in majority {
                let (a_id, b_id) = (self.node(a).handle.id(), self.node(b).handle.id());
                self.net.clog_link(a_id, b_id);
                self.net.clog_link(b_id, a_id);
            }
        }
        self.clogged_links.extend(
            minority
                .iter()
                .flat_map(|a| majority.iter().map(|b| (a.to_string(), b.to_string()))),
        );
        self.fault(Fault::Partition {
            minority: minority.iter().map(|name| name.to_string()).collect(),
        });
    }

    /// Starts a client that proposes `rate_per_s` commands per simulated second to the
    /// node it believes leads, until [`SimCluster::stop_workload`].
    pub fn start_workload(&mut self, rate_per_s: u64) {
        let shared = self.shared.clone();
        let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
        self.workload = Some(running.clone());
        let names: Vec<(String, NodeId)> = self
            .nodes
            .iter()
            .map(|(name, node)| (name.clone(), node.node_id))
            .collect();
        let interval = Duration::from_millis(1_000 / rate_per_s.max(1));
        self.harness.spawn(async move {
            let mut seq = 0u64;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(interval).await;
                let client = {
                    let state = shared.state();
                    names
                        .iter()
                        .find(|(name, id)| state.leaders.get(name).copied().flatten() == Some(*id))
                        .and_then(|(name, _)| state.clients.get(name).cloned())
                };
                let Some(client) = client else { continue };
                seq += 1;
                let command = psionic_core::ClusterCommand::SetPolicy {
                    name: format!("workload-{}", seq % 16),
                    document: seq.to_le_bytes().to_vec(),
                };
                let shared = shared.clone();
                madsim::task::spawn(async move {
                    if let Ok(committed) = client.propose(vec![command]).await {
                        shared.state().acknowledged.extend(committed);
                    }
                });
            }
        });
    }

    /// Stops the workload client.
    pub fn stop_workload(&mut self) {
        if let Some(running) = self.workload.take() {
            running.store(false, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Checks, at the end, that every acknowledged proposal is committed where it was
    /// acknowledged. Returns (acknowledged, lost).
    pub fn check_acknowledged(&mut self) -> (u64, u64) {
        let mut state = self.shared.state();
        let acknowledged = state.acknowledged.clone();
        let mut lost = 0;
        for (id, index) in &acknowledged {
            let proposal = match state.invariants.committed.fact_at(*index) {
                Some(
                    psionic_core::ClusterEvent::Applied { proposal, .. }
                    | psionic_core::ClusterEvent::Refused { proposal, .. },
                ) => Some(*proposal),
                _ => None,
            };
            if proposal != Some(*id) {
                lost += 1;
                let proposal = format!("{}/{}/{}", id.node, id.epoch, id.seq);
                state.violations.push(Violation::AcknowledgedCommitLost {
                    proposal,
                    index: *index,
                });
            }
        }
        (acknowledged.len() as u64, lost)
    }

    /// Highest index applied anywhere.
    pub fn highest_applied(&self) -> u64 {
        self.shared.state().invariants.committed.highest()
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
    let node = psionic_net::start(spec.settings, observer.clone())
        .await
        .unwrap_or_else(|error| panic!("{}: {error}", spec.name));
    observer.shared.state().clients.insert(spec.name.clone(), node.client());
    std::future::pending::<()>().await;
    drop(node);
}

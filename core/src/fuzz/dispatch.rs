//! Dispatch driven by fuzz input on the cluster of [`super::cluster`]: requests
//! submitted at any node (odd ones streaming their tokens), jobs producing tokens,
//! completed or failed at any time or left running, cancellations, and every fault of
//! that harness (loss, duplication, reordering, crashes and restarts). After every
//! operation the executing side's promises are checked: a job is handed out once while
//! it runs, never again on a node that completed it in this life, stopped only while
//! it runs; every completed result is one an executor produced, with evidence that
//! verifies; every streamed batch is what the node it names produced at its offset.

use crate::dispatch::Token;
use crate::serving::ServingEvent;
use std::collections::{BTreeMap, BTreeSet};

use super::Draw;
use super::cluster::Cluster;
use crate::backend::{Backend, BackendReadiness, DeviceProfile, DeviceReport, ExecutionProfile, Telemetry};
use crate::consensus::Fence;
use crate::digest::{Digest, DigestKind};
use crate::dispatch::{ExecutionError, ExecutionReport, InferenceRequest, RequestLane, RequestOutcome, SubmitRefusal};
use crate::identity::{NodeEpoch, NodeId, NodeIdentity, RequestId};
use crate::io::{Event, Output};
use crate::plan::RequestNeeds;
use crate::serving::Decision;
use crate::state::Residency;

const GIB: u64 = 1024 * 1024 * 1024;
/// Distinct request ids the input can name.
const REQUESTS: usize = 6;
/// Rounds of timers and deliveries the cluster gets to elect a leader and commit what
/// serving needs before the input is read.
const WARM_UP_ROUNDS: usize = 300;

/// What a run of [`dispatch_sequence`] served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Served {
    /// Requests that finished completed.
    pub completed: usize,
    /// Batches of streamed tokens handed to the node that took their request.
    pub streamed: usize,
}

/// Runs the operations `bytes` encode; panics on a broken promise. Returns what was
/// served.
pub fn dispatch_sequence(bytes: &[u8]) -> Served {
    let mut draw = Draw::new(bytes);
    let size = 3 + draw.below(3);
    let mut cluster = Cluster::new(size);
    let mut ledger = Ledger::new(size);
    warm_up(&mut cluster, &mut ledger);
    while !draw.is_empty() {
        match draw.u8() % 9 {
            0..=2 => cluster.deliver(draw.below(cluster.in_flight_len())),
            3 => cluster.step(&mut draw),
            4 => submit(&mut cluster, draw.below(size), draw.below(REQUESTS)),
            5 => ledger.end_one(&mut cluster, draw.u16()),
            6 => cancel(&mut cluster, draw.below(size), draw.below(REQUESTS)),
            7 => ledger.produce_one(&mut cluster, draw.u16()),
            _ => cluster.fire_timers(),
        }
        cluster.drain();
        ledger.take(&mut cluster);
        ledger.check_fences(&cluster);
        cluster.check();
    }
    ledger.served
}

fn model() -> Digest {
    Digest::of_bytes(DigestKind::Policy, b"fuzzed model")
}

fn devices() -> DeviceReport {
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
        telemetry: Telemetry {
            free_memory_bytes: vec![60 * GIB],
            queue_depth: 0,
            links: BTreeMap::new(),
        },
    }
}

fn request(seq: usize) -> InferenceRequest {
    InferenceRequest {
        id: RequestId([seq as u8; 16]),
        lane: RequestLane::WholeRequest,
        needs: RequestNeeds {
            artifact: model(),
            backends: vec![Backend::Cuda],
            device_memory_bytes: GIB,
        },
        prompt: b"fuzz".to_vec(),
        max_tokens: 4,
        class: 0,
        hint: None,
        stream: seq % 2 == 1,
        sampling: crate::dispatch::Sampling::Greedy,
    }
}

/// The tokens node `index`'s executor produces for `request`.
fn tokens_of(request: RequestId, index: usize) -> Vec<Token> {
    vec![u32::from(request.0[0]), index as u32]
}

/// Elects a leader and commits every node's readiness and the model resident on it.
fn warm_up(cluster: &mut Cluster, ledger: &mut Ledger) {
    let mut proposed = false;
    for _ in 0..WARM_UP_ROUNDS {
        cluster.fire_timers();
        cluster.deliver_all(4_096);
        ledger.take(cluster);
        let leader = cluster.live_nodes().position(|node| node.consensus().is_leader());
        if leader.is_some() && !proposed {
            report_residency(cluster);
            proposed = true;
        }
        if proposed && cluster.live_nodes().all(|node| serves(node, cluster.members.len())) {
            return;
        }
    }
}

/// Each live node reports the model resident, as a scan of its models directory
/// would.
fn report_residency(cluster: &mut Cluster) {
    let now = cluster.now;
    for member in &mut cluster.members {
        if let Some(node) = member.node.as_mut() {
            node.hold_artifacts(now, [(model(), Residency::Resident)].into());
        }
    }
    cluster.drain();
}

/// Whether `node` applied the model resident and CUDA ready on all `size` nodes.
fn serves(node: &crate::node::Node, size: usize) -> bool {
    let state = node.consensus().state();
    let resident = state
        .residency
        .values()
        .filter(|artifacts| artifacts.get(&model()) == Some(&Residency::Resident))
        .count();
    resident == size && state.backends.len() == size
}

/// Submits request `seq` at node `index`; refused there as not the leader, the client
/// tries again at the leader it was told of.
fn submit(cluster: &mut Cluster, index: usize, seq: usize) {
    let now = cluster.now;
    let Some(node) = cluster.members[index].node.as_mut() else {
        return;
    };
    let Err(SubmitRefusal::NotLeader {
        leader_hint: Some(leader),
    }) = node.submit_request(now, request(seq))
    else {
        return;
    };
    let leader = cluster
        .members
        .iter_mut()
        .filter_map(|member| member.node.as_mut())
        .find(|node| node.node_id() == leader);
    if let Some(leader) = leader {
        let _ = leader.submit_request(now, request(seq));
    }
}

fn cancel(cluster: &mut Cluster, index: usize, seq: usize) {
    let now = cluster.now;
    if let Some(node) = cluster.members[index].node.as_mut() {
        let _ = node.cancel_request(now, RequestId([seq as u8; 16]));
    }
}

/// What each node's executor holds, as the harness plays it.
struct Ledger {
    /// Each node's life (its identity epoch) the entries below belong to.
    epochs: Vec<u64>,
    /// Jobs each node's executor runs, with the newest fence that assigned each.
    running: Vec<BTreeMap<RequestId, Fence>>,
    /// Tokens each node's executor produced of each run so far.
    produced: Vec<BTreeMap<RequestId, usize>>,
    /// Requests each node completed in its current life.
    completed_this_life: Vec<BTreeSet<RequestId>>,
    /// (node, request) completions in any life.
    completed: BTreeSet<(usize, RequestId)>,
    /// Each node's id, by index.
    ids: Vec<NodeId>,
    keys: BTreeMap<NodeId, ed25519_dalek::VerifyingKey>,
    served: Served,
}

impl Ledger {
    fn new(size: usize) -> Self {
        let identities: Vec<NodeIdentity> = (0..size)
            .map(|index| NodeIdentity::new([index as u8 + 1; 32], NodeEpoch(0)))
            .collect();
        Self {
            ids: identities.iter().map(NodeIdentity::node_id).collect(),
            epochs: vec![0; size],
            running: vec![BTreeMap::new(); size],
            produced: vec![BTreeMap::new(); size],
            completed_this_life: vec![BTreeSet::new(); size],
            completed: BTreeSet::new(),
            keys: identities
                .iter()
                .map(|identity| (identity.node_id(), identity.public_key()))
                .collect(),
            served: Served::default(),
        }
    }

    /// Ends one running job (`choice` picks which, and how).
    fn end_one(&mut self, cluster: &mut Cluster, choice: u16) {
        let running: Vec<(usize, RequestId)> = (0..self.running.len())
            .flat_map(|index| self.running[index].keys().map(move |request| (index, *request)))
            .collect();
        let Some(&(index, request)) = running.get(usize::from(choice & 0x7fff) % running.len().max(1)) else {
            return;
        };
        let report = if choice & 0x8000 == 0 {
            let tokens = tokens_of(request, index);
            let result_digest = crate::dispatch::output_digest(&tokens);
            self.completed_this_life[index].insert(request);
            self.completed.insert((index, request));
            ExecutionReport::Completed { tokens, result_digest }
        } else {
            ExecutionReport::Failed(ExecutionError::Cancelled { tokens: 0 })
        };
        self.running[index].remove(&request);
        self.produced[index].remove(&request);
        let now = cluster.now;
        let node = cluster.members[index]
            .node
            .as_mut()
            .expect("a node with running jobs is live");
        node.execution_ended(now, request, report);
    }

    /// One running job produces its next token (`choice` picks which); a streaming
    /// one's goes on to its coordinator.
    fn produce_one(&mut self, cluster: &mut Cluster, choice: u16) {
        let running: Vec<(usize, RequestId)> = (0..self.running.len())
            .flat_map(|index| self.running[index].keys().map(move |request| (index, *request)))
            .collect();
        let Some(&(index, request)) = running.get(usize::from(choice) % running.len().max(1)) else {
            return;
        };
        let produced = self.produced[index].entry(request).or_default();
        let tokens = tokens_of(request, index);
        let Some(token) = tokens.get(*produced).copied() else {
            return;
        };
        let offset = *produced as u32;
        *produced += 1;
        let now = cluster.now;
        let node = cluster.members[index]
            .node
            .as_mut()
            .expect("a node with running jobs is live");
        node.execution_progress(now, request, offset, vec![token]);
    }

    /// A streamed batch is what the node it names produced of the request, at its
    /// offset.
    fn streamed(&mut self, request: RequestId, node: NodeId, offset: u32, tokens: &[Token]) {
        let index = self.ids.iter().position(|id| *id == node);
        let produced = index.map(|index| tokens_of(request, index));
        let at = offset as usize;
        let matches = produced
            .as_ref()
            .and_then(|produced| produced.get(at..at + tokens.len()))
            .is_some_and(|expected| expected == tokens);
        assert!(
            matches,
            "{request}: streamed {tokens:?} at {offset} as {node}'s, which it never produced"
        );
        self.served.streamed += 1;
    }

    /// Checks and records the serving outputs since last taken; a node that restarted
    /// starts a new life with an empty executor (and reports its devices again).
    fn take(&mut self, cluster: &mut Cluster) {
        self.follow_lives(cluster);
        for (index, output) in std::mem::take(&mut cluster.served) {
            match output {
                Output::RunJob(job) => self.run(index, job.request),
                Output::StopJob { request } => {
                    self.produced[index].remove(&request);
                    let running = self.running[index].remove(&request);
                    assert!(
                        running.is_some(),
                        "node {index} stopped {request}, which was not running"
                    );
                }
                Output::Event(Event::Serving(ServingEvent::DecisionAccepted {
                    authority,
                    decision: Decision::Assign(assignment),
                })) => {
                    if let Some(fence) = self.running[index].get_mut(&assignment.request) {
                        *fence = (*fence).max(authority.fence);
                    }
                }
                Output::Event(Event::Serving(ServingEvent::RequestFinished { request, outcome })) => {
                    self.finished(request, &outcome)
                }
                Output::Event(Event::Serving(ServingEvent::TokensProduced {
                    request,
                    node,
                    offset,
                    tokens,
                })) => self.streamed(request, node, offset, &tokens),
                _ => {}
            }
        }
    }

    /// Every job still running was assigned under a fence no older than its node's
    /// term: a deposed coordinator's runs are stopped.
    fn check_fences(&self, cluster: &Cluster) {
        for (index, member) in cluster.members.iter().enumerate() {
            let Some(node) = member.node.as_ref() else { continue };
            let term = node.consensus().hard_state().term;
            for (request, fence) in &self.running[index] {
                assert!(
                    fence.0 >= term,
                    "node {index} still runs {request} of fence {fence:?} in term {term}"
                );
            }
        }
    }

    fn follow_lives(&mut self, cluster: &mut Cluster) {
        let now = cluster.now;
        for (index, member) in cluster.members.iter_mut().enumerate() {
            let life = member.node.as_ref().map_or(0, |_| member.epoch);
            if life == self.epochs[index] {
                continue;
            }
            self.epochs[index] = life;
            self.running[index].clear();
            self.produced[index].clear();
            self.completed_this_life[index].clear();
            if let Some(node) = member.node.as_mut() {
                node.report_devices(now, devices());
            }
        }
    }

    fn run(&mut self, index: usize, request: RequestId) {
        assert!(
            !self.completed_this_life[index].contains(&request),
            "node {index} was handed {request} again after completing it"
        );
        let before = self.running[index].insert(request, Fence(0));
        assert!(
            before.is_none(),
            "node {index} was handed {request} while it still ran it"
        );
    }

    fn finished(&mut self, request: RequestId, outcome: &RequestOutcome) {
        let RequestOutcome::Completed { node, tokens, evidence } = outcome else {
            return;
        };
        let index = self.ids.iter().position(|id| id == node);
        let produced = index
            .is_some_and(|index| self.completed.contains(&(index, request)) && tokens_of(request, index) == *tokens);
        assert!(
            produced,
            "{request} finished with {tokens:?} from {node}, which no executor produced"
        );
        let voters: BTreeSet<NodeId> = self.keys.keys().copied().collect();
        let cluster_id = evidence.context.cluster_id;
        let fence = evidence.context.authority.fence;
        assert_eq!(
            evidence.verify(cluster_id, (&self.keys, &voters), fence),
            Ok(()),
            "{request}'s evidence"
        );
        self.served.completed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::dispatch_sequence;

    #[test]
    fn a_scripted_sequence_completes_requests_and_streams_tokens() {
        let mut script = vec![0, 0];
        for seq in 0..4u8 {
            // Submit `seq` at every node (the leader takes it), deliver, produce a
            // token, deliver, then end a job on every node.
            for node in 0..3 {
                script.extend([4, node, 0, seq, 0]);
            }
            script.extend([0, 0, 0].repeat(40));
            script.extend([7, 0, 0]);
            script.extend([0, 0, 0].repeat(40));
            script.extend([5, 0, 0]);
            script.extend([0, 0, 0].repeat(40));
        }
        let served = dispatch_sequence(&script);
        assert!(served.completed >= 2, "requests ran and completed: {served:?}");
        assert!(
            served.streamed >= 1,
            "a streaming request's tokens were handed over: {served:?}"
        );
    }

    #[test]
    fn seeded_random_inputs_keep_every_promise() {
        use rand_chacha::ChaCha8Rng;
        use rand_core::{RngCore, SeedableRng};
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut served = super::Served::default();
        for _ in 0..100 {
            let mut input = vec![0u8; 1 + (rng.next_u32() % 2_000) as usize];
            rng.fill_bytes(&mut input);
            let run = dispatch_sequence(&input);
            served.completed += run.completed;
            served.streamed += run.streamed;
        }
        assert!(served.completed > 0 && served.streamed > 0, "{served:?}");
    }
}

//! The node: one sans-IO state machine per cluster member, joining discovery,
//! admission and consensus.

mod effects;
mod keys;
mod receive;
mod send;
mod serving;
mod staging;

/// What serving reads of `node`: its consensus and device telemetry.
macro_rules! view {
    ($node:expr) => {
        crate::serving::ClusterView {
            raft: &$node.consensus,
            devices: &$node.devices,
        }
    };
}
use view;

pub use crate::status::KeyStatus;

use crate::discovery::DiscoveryEvent;
use std::collections::{BTreeMap, VecDeque};

use core::net::SocketAddr;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::backend::{DeviceReport, LINKS_PER_REPORT_MAX};
use crate::candidates::{CandidateLedger, Membership};
use crate::config::{ConfigError, NodeConfig};
use crate::consensus::{Authority, Consensus, Mutations, ProposalRejection};
use crate::devices::Devices;
use crate::discovery::{Discovery, PeerHealth};
use crate::dispatch::{CancelRefusal, InferenceRequest, PlanRequest, SubmitRefusal};
use crate::identity::{ClusterId, ClusterNamespace, NodeEpoch, NodeId, NodeRole, RequestId};
use crate::io::{Input, Output, TransportClass};
use crate::plan::ServingPolicy;
use crate::plan::{Placement, PlacementRefusal};
use crate::refusal::RefusalCounters;
use crate::replay::ReplayGuard;
use crate::serving::{Decision, DispatchMessage, Serving, StampedDecision};
use crate::state::{ClusterCommand, Origin, ProposalId};
use crate::status::{CandidateStatus, MemberReport, NodeStatus, PeerStatus, StateReport, TelemetryReport};
use crate::time::Instant;
use crate::timer::{Timer, TimerTable};
use crate::wire::{Authenticator, Message};

/// Time between two upkeeps of a node (candidates, staging, its own reports).
pub const UPKEEP_INTERVAL_MS: u64 = 500;

/// ChaCha stream of discovery (probe jitter, backoff).
const DISCOVERY_STREAM: u64 = 0;
/// ChaCha stream of consensus (election timeouts).
const CONSENSUS_STREAM: u64 = 1;

/// One node's core. See the crate documentation for the driver loop.
#[derive(Debug)]
pub struct Node {
    namespace: ClusterNamespace,
    cluster_id: ClusterId,
    node_id: NodeId,
    epoch: NodeEpoch,
    role: NodeRole,
    authenticator: Authenticator,
    replay: ReplayGuard,
    discovery: Discovery,
    consensus: Consensus,
    /// Backend readiness and soft telemetry, carried on consensus's heartbeats.
    devices: Devices,
    /// What this node's disk holds, and the residency it reported.
    artifacts: crate::artifacts::OwnArtifacts,
    /// The copies this node makes.
    transfers: crate::staging::Transfers,
    /// The copies this node serves.
    sources: crate::staging::Sources,
    /// Where each authenticated sender last spoke from.
    addrs: BTreeMap<NodeId, SocketAddr>,
    /// The public key of each authenticated sender (frames to it are sealed for it).
    keys: BTreeMap<NodeId, [u8; 32]>,
    /// This node's public key, carried in every frame.
    public_key: [u8; 32],
    /// The consensus key generation the authenticator last took the node keys at.
    keys_synced_at: Option<u64>,
    /// The peers met while not members, and what became of them.
    candidates: CandidateLedger,
    /// Port of this node's peer-stream listener, announced in hellos.
    stream_port: Option<u16>,
    /// The SHA-256 of the executable this node runs, announced in hellos.
    binary: Option<crate::attestation::BinaryDigest>,
    refusals: RefusalCounters,
    timers: TimerTable,
    /// When [`Timer::Upkeep`] next fires.
    upkeep_at: Instant,
    rng: ChaCha8Rng,
    /// Counter of the next datagram frame and of the next stream frame.
    next_counters: [u64; 2],
    /// Both sides of dispatch: the requests this node coordinates and the jobs it runs.
    serving: Serving,
    outputs: VecDeque<Output>,
}

/// A node with no seeds, no genesis voters and no data founds a cluster: it is its
/// only genesis voter. Only a coordinator-capable node can.
fn found_if_alone(config: &mut NodeConfig) -> Result<(), ConfigError> {
    let fresh = config.durable.snapshot.is_none()
        && config.durable.entries.is_empty()
        && config.durable.hard_state == crate::consensus::HardState::default();
    if !fresh || !config.seeds.is_empty() || !config.consensus.initial_voters.is_empty() {
        return Ok(());
    }
    if !config.role.is_coordinator_capable() {
        return Err(ConfigError::NoClusterToJoin { role: config.role });
    }
    config.consensus.initial_voters = vec![(config.identity.node_id(), config.role)];
    Ok(())
}

fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

impl Node {
    /// A node configured by `config`, starting at `now`. Its first probes are due at `now`.
    pub fn new(mut config: NodeConfig, now: Instant) -> Result<Self, ConfigError> {
        config.discovery.validate()?;
        config.consensus.validate()?;
        found_if_alone(&mut config)?;
        let identity = (config.identity.node_id(), config.identity.epoch(), config.cluster_id);
        let consensus_rng = stream(config.rng_seed, CONSENSUS_STREAM);
        let mut consensus = Consensus::new(identity, config.consensus, config.durable, consensus_rng, now)?;
        consensus.signer = Some(config.identity.clone());
        let allowed = &consensus.config.allowed_binaries;
        let bundle = crate::trust::TrustBundle::of(&config.posture, config.identity.node_id(), allowed);
        consensus.trust = Some(bundle.digest());
        let mut node = Self {
            authenticator: Authenticator::new(&config.posture, config.cluster_id, &config.identity),
            node_id: config.identity.node_id(),
            epoch: config.identity.epoch(),
            namespace: config.namespace,
            cluster_id: config.cluster_id,
            role: config.role,
            replay: ReplayGuard::default(),
            discovery: Discovery::new(config.discovery, &config.seeds, now),
            consensus,
            devices: Devices::new(config.identity.node_id()),
            artifacts: crate::artifacts::OwnArtifacts::default(),
            transfers: crate::staging::Transfers::default(),
            sources: crate::staging::Sources::default(),
            addrs: BTreeMap::new(),
            keys: BTreeMap::new(),
            public_key: config.identity.public_key().to_bytes(),
            keys_synced_at: None,
            candidates: CandidateLedger::default(),
            stream_port: config.stream_port,
            binary: config.binary,
            refusals: RefusalCounters::default(),
            timers: TimerTable::default(),
            upkeep_at: now,
            rng: stream(config.rng_seed, DISCOVERY_STREAM),
            next_counters: [0; 2],
            serving: Serving::new(config.identity.clone()),
            outputs: VecDeque::new(),
        };
        node.sync_admission_tokens();
        node.sync_node_keys(now);
        node.rearm_timers();
        Ok(node)
    }

    /// Feeds one input. `now` must not go backwards between calls.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Datagram { from, bytes } => self.on_frame(now, from, &bytes, TransportClass::Datagram),
            Input::Stream { from, bytes } => self.on_frame(now, from, &bytes, TransportClass::Stream),
            Input::Streams { frames } => self.on_stream_frames(now, &frames),
            Input::Timeout => self.on_timeout(now),
        }
        self.finish(now);
    }

    /// The next output to carry out, in order. Call until `None` after every
    /// [`Node::handle`] (and every proposal).
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Node::handle`] must next be called with [`Input::Timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.earliest()
    }

    /// Proposes one command. Every proposal gets exactly one outcome event:
    /// [`ConsensusEvent::ProposalCommitted`](crate::ConsensusEvent::ProposalCommitted) once applied here, or
    /// [`ConsensusEvent::ProposalRejected`](crate::ConsensusEvent::ProposalRejected) (at once when this node does not lead).
    /// It is proposed as this node's local operator (credential
    /// [`LOCAL_CREDENTIAL`](crate::state::LOCAL_CREDENTIAL), the scope the command needs).
    pub fn propose(&mut self, now: Instant, command: ClusterCommand) -> ProposalId {
        self.propose_batch(now, vec![command])[0]
    }

    /// Proposes commands as one batch (one append per follower), as this node's local
    /// operator.
    pub fn propose_batch(&mut self, now: Instant, commands: Vec<ClusterCommand>) -> Vec<ProposalId> {
        let local = |command: ClusterCommand| (Origin::operator(crate::state::LOCAL_CREDENTIAL, &command), command);
        self.propose_as(now, commands.into_iter().map(local).collect())
    }

    /// Proposes commands as one batch, each with the origin given (an operator's
    /// credential and scope, as the operator API authenticated them).
    pub fn propose_as(&mut self, now: Instant, commands: Vec<(Origin, ClusterCommand)>) -> Vec<ProposalId> {
        let ids = self.consensus.propose(now, commands);
        self.finish(now);
        ids
    }

    /// Proposes commands as one batch with the origins given, as [`Node::propose_as`]
    /// does when this node leads; otherwise forwards them to the leader it follows,
    /// and reports each outcome once this node applied its index (so a read here then
    /// sees it). Rejected at once only when no leader is known or leadership is being
    /// handed over; `forward-unanswered` when the leader changed before it answered
    /// (the command may yet commit).
    pub fn propose_through_leader(&mut self, now: Instant, commands: Vec<(Origin, ClusterCommand)>) -> Vec<ProposalId> {
        let ids = self.consensus.propose_or_forward(now, commands);
        self.finish(now);
        ids
    }

    /// Starts a linearizable read: [`ConsensusEvent::ReadReady`](crate::ConsensusEvent::ReadReady) once the applied state
    /// holds everything committed before now (confirmed with the leader, and by it with
    /// a quorum), or [`ConsensusEvent::ReadRefused`](crate::ConsensusEvent::ReadRefused).
    pub fn read(&mut self, now: Instant) -> crate::consensus::reads::ReadId {
        let id = self.consensus.read(now);
        self.finish(now);
        id
    }

    /// Leader: sends `decision` to `to`, stamped with this leadership's authority.
    pub fn issue_decision(
        &mut self,
        now: Instant,
        to: NodeId,
        decision: Decision,
    ) -> Result<Authority, ProposalRejection> {
        let authority = self.consensus.authority()?;
        let message = DispatchMessage::Decision(StampedDecision::new(authority, decision));
        self.serving
            .effects
            .push(crate::serving::ServingEffect::Send { to, message });
        self.finish(now);
        Ok(authority)
    }

    /// Leader: places `request`, sends its assignment stamped with this leadership's
    /// authority, and follows it; [`ServingEvent::RequestFinished`] reports how it ended.
    ///
    /// [`ServingEvent::RequestFinished`]: crate::ServingEvent::RequestFinished
    pub fn submit_request(&mut self, now: Instant, request: InferenceRequest) -> Result<Placement, SubmitRefusal> {
        self.sync_telemetry_index();
        let placed = self.serving.submit(now, view!(self), request);
        self.finish(now);
        placed
    }

    /// As [`Node::submit_request`] when this node leads; otherwise forwards `request` to
    /// the leader it follows, and reports where it was placed (or why not) and how it
    /// ended as events here ([`crate::serving::Submitted::Forwarded`]).
    pub fn submit_request_through_leader(
        &mut self,
        now: Instant,
        request: InferenceRequest,
    ) -> Result<crate::serving::Submitted, SubmitRefusal> {
        self.sync_telemetry_index();
        let submitted = self.serving.submit_anywhere(now, view!(self), request);
        self.finish(now);
        submitted
    }

    /// The placement `request` would get now (any lane), dispatching nothing. The
    /// leader plans with every member's telemetry; a follower only with its own.
    pub fn plan(&mut self, now: Instant, request: &PlanRequest) -> Result<Placement, PlacementRefusal> {
        self.sync_telemetry_index();
        self.serving.plan(now, view!(self), request)
    }

    /// Leader: ends an in-flight request as cancelled and tells its executing node to
    /// stop it (between two steps).
    pub fn cancel_request(&mut self, now: Instant, request: RequestId) -> Result<(), CancelRefusal> {
        let cancelled = self.serving.cancel(view!(self), request);
        self.finish(now);
        cancelled
    }

    /// Leader: hands leadership to the most up-to-date other voter (before shutdown).
    /// Returns the voter asked to take over.
    pub fn transfer_leadership(&mut self, now: Instant) -> Option<NodeId> {
        self.transfer_leadership_to(now, None).ok()
    }

    /// Leader: hands leadership to `target` (or the most up-to-date other voter): it
    /// takes no proposals until the target, caught up, has been told to stand, or an
    /// election timeout has passed.
    pub fn transfer_leadership_to(
        &mut self,
        now: Instant,
        target: Option<NodeId>,
    ) -> Result<NodeId, crate::consensus::TransferRefusal> {
        let transferred = self.consensus.transfer_leadership(now, target);
        self.finish(now);
        transferred
    }

    /// Takes this node's backend readiness and telemetry. The leader commits a
    /// readiness that differs from the cluster's record on its next heartbeat.
    pub fn report_devices(&mut self, now: Instant, report: DeviceReport) {
        self.devices.report(now, report);
    }

    /// Replaces the admission tokens this node holds (trusted LAN): `token`, and `next`
    /// accepted alongside until a cut-over is committed. Keys derived from the tokens
    /// it held before are dropped.
    pub fn replace_admission_tokens(&mut self, token: crate::AdmissionToken, next: Option<crate::AdmissionToken>) {
        let posture = crate::TrustPosture::TrustedLan { token, next };
        self.authenticator.replace_tokens(&posture, self.cluster_id);
        self.sync_admission_tokens();
    }

    /// The admission token the applied state has in force.
    pub(super) fn committed_token(&self) -> Option<crate::digest::Digest> {
        let retired_kept = self.consensus.mutations().keep_retired_token;
        self.consensus.state().admission_token.filter(|_| !retired_kept)
    }

    /// Tells the authenticator the committed cut-over, and consensus the tokens held.
    fn sync_admission_tokens(&mut self) {
        self.authenticator.set_committed_token(self.committed_token());
        self.consensus.admission_tokens = self
            .authenticator
            .admission_status()
            .map(|status| status.held)
            .unwrap_or_default();
    }

    /// Plants known bugs in consensus (acts in simulation builds only).
    pub fn set_mutations(&mut self, mutations: Mutations) {
        self.consensus.set_mutations(mutations);
        let keep_retired_key = self.consensus.mutations().keep_retired_key;
        self.transfers
            .skip_verification(self.consensus.mutations().staging_skips_verification);
        self.authenticator.keep_retired_keys(keep_retired_key);
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// This node's epoch.
    pub fn epoch(&self) -> NodeEpoch {
        self.epoch
    }

    /// The discovery table.
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// Consensus: term, log, commit index, applied state, coordinator view.
    pub fn consensus(&self) -> &Consensus {
        &self.consensus
    }

    /// Device truth beside consensus: readiness, telemetry, measured links.
    pub fn devices(&self) -> &Devices {
        &self.devices
    }

    /// The artifacts this node's disk holds, as the driver last found them.
    pub fn artifacts(&self) -> &crate::artifacts::OwnArtifacts {
        &self.artifacts
    }

    /// The driver found these artifacts on this node's disk: the node reports its
    /// own residency of each (and evicted for any it held before) through its leader.
    pub fn hold_artifacts(
        &mut self,
        now: Instant,
        held: std::collections::BTreeMap<crate::Digest, crate::state::Residency>,
    ) {
        self.artifacts.set_held(held);
        self.report_artifacts(now);
        self.finish(now);
    }

    fn report_artifacts(&mut self, now: Instant) {
        let reports = self.artifacts.reports_due(now, self.node_id, self.consensus.state());
        if !reports.is_empty() {
            let me = crate::state::Origin::Member { node: self.node_id };
            let commands = reports.into_iter().map(|command| (me.clone(), command)).collect();
            self.consensus.propose_or_forward(now, commands);
        }
    }

    /// Refusals so far, by kind.
    pub fn refusals(&self) -> &RefusalCounters {
        &self.refusals
    }

    /// The replicated state as applied here, at `now`.
    pub fn state_report(&self, now: Instant) -> StateReport {
        let state = self.consensus.state();
        let telemetry = self.devices.telemetry();
        StateReport {
            coordinator: self.consensus.coordinator_view(now),
            commit_index: self.consensus.commit_index(),
            applied_index: state.applied_index,
            state_digest: self.consensus.state_digest(),
            members: state
                .members
                .iter()
                .map(|(id, member)| MemberReport {
                    node_id: *id,
                    role: member.role,
                    status: member.status,
                    voter: member.voter,
                    backends: state.backends.get(id).cloned().unwrap_or_default(),
                    artifacts: state.residency.get(id).cloned().unwrap_or_default(),
                    telemetry: telemetry.get(id).map(|seen| TelemetryReport::of(seen, now)),
                })
                .collect(),
            serving_policy: ServingPolicy::from_state(state),
            policies: state
                .policies
                .iter()
                .map(|(name, policy)| (name.clone(), policy.digest))
                .collect(),
            set_by: state.set_by.clone(),
            authorization: state.authorization().map(|(_, policy)| policy),
            admission_token: state.admission_token,
            node_keys: state.node_keys.clone(),
        }
    }

    /// A serialisable snapshot of this node's view at `now`.
    pub fn status(&self, now: Instant) -> NodeStatus {
        let consensus = &self.consensus;
        let candidates = self
            .candidates
            .entries()
            .map(|(id, candidate)| CandidateStatus::of(id, candidate, consensus.admission_of(id), now))
            .collect();
        NodeStatus {
            node_id: self.node_id,
            epoch: self.epoch,
            cluster_id: self.cluster_id,
            namespace: self.namespace.clone(),
            role: self.role,
            peers: self
                .discovery
                .peers()
                .map(|(id, peer)| PeerStatus::of(id, peer, consensus.claims.get(&id).and_then(|claims| claims.trust)))
                .collect(),
            candidates,
            candidates_unrecorded: self.candidates.unrecorded(),
            admission: self.authenticator.admission_status(),
            key: self.key_status(),
            trust: consensus.trust,
            refusals: self.refusals.clone(),
            term: consensus.hard_state().term,
            consensus_role: consensus.role_kind(),
            leader: consensus.leader(),
            commit_index: consensus.commit_index(),
            applied_index: consensus.state().applied_index,
            last_index: consensus.log().last_index(),
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        let mut events = Vec::new();
        if self.timers.is_due(Timer::PeerExpiry, now) {
            self.discovery.expire(now, &mut events);
            self.forget_expired_non_members(&events);
        }
        if self.timers.is_due(Timer::DiscoveryProbe, now) {
            for (addr, peer) in self.discovery.due_probes(now, &mut self.rng, &mut events) {
                let hello = Message::Hello(self.hello_for(addr, now.as_micros()));
                match peer {
                    Some(peer) => self.send_addressed(addr, TransportClass::Datagram, peer, hello),
                    None => self.send_on(addr, TransportClass::Datagram, None, hello),
                }
            }
            for (peer, stream, burst) in self.discovery.due_bursts(now) {
                self.send_burst(peer, stream, burst);
            }
            let links = self.discovery.links(LINKS_PER_REPORT_MAX);
            self.devices.set_links(now, links);
        }
        if self.timers.is_due(Timer::Upkeep, now) {
            self.upkeep_at = now + crate::time::ms(UPKEEP_INTERVAL_MS);
            self.reconcile_candidates(now);
            self.staging_upkeep(now);
            self.report_artifacts(now);
        }
        self.push_discovery_events(events);
        for (timer, deadline) in self.consensus.deadlines() {
            if deadline.is_some_and(|at| at <= now) {
                self.consensus.on_timer(now, timer);
                if timer == Timer::Maintenance {
                    self.maintain(now);
                }
            }
        }
    }

    /// Frees the replay windows of expired peers that are not members, so the table
    /// of non-member senders does not fill up for good.
    fn forget_expired_non_members(&mut self, events: &[DiscoveryEvent]) {
        let members = self.consensus.effective_members();
        for event in events {
            if let DiscoveryEvent::PeerExpired { peer, .. } = event
                && !members.contains_key(peer)
            {
                self.replay.forget(*peer);
                self.keys.remove(peer);
                self.addrs.remove(peer);
                self.consensus.claims.remove(peer);
            }
        }
    }

    /// Leader, on each heartbeat: proposes membership and readiness changes due.
    fn maintain(&mut self, now: Instant) {
        self.reconcile_candidates(now);
        let waiting = self.reachable_candidates();
        self.consensus.maintain_membership(now, &waiting);
        let readiness = self.devices.readiness_due(&self.consensus);
        if !readiness.is_empty() {
            let _ = self.consensus.propose_batch(now, readiness);
        }
        self.sync_telemetry_index();
        self.serving.reroute_lost(now, view!(self));
        self.maintain_keys(now);
    }

    /// Brings the candidate ledger up to date, once this node holds the cluster's
    /// state (before, every peer would look like a candidate).
    fn reconcile_candidates(&mut self, now: Instant) {
        if self.consensus.state().genesis.is_none() {
            return;
        }
        let members = self.consensus.effective_members().into_keys().collect();
        let removed = self.consensus.effective_removed();
        let membership = Membership {
            members: &members,
            removed: &removed,
            listed: &self.consensus.config.admit_only,
        };
        self.candidates.reconcile(now, self.discovery.peers(), &membership);
    }

    /// Candidates that wait and answer probes, with the role each claims.
    fn reachable_candidates(&self) -> Vec<(NodeId, NodeRole)> {
        self.discovery
            .peers()
            .filter(|(id, peer)| peer.health == PeerHealth::Reachable && self.candidates.is_introduced(*id))
            .map(|(id, peer)| (id, peer.role))
            .collect()
    }

    /// Carries consensus effects into outputs and rearms timers. Frames are sealed
    /// under the admission token the applied state has in force.
    fn finish(&mut self, now: Instant) {
        self.authenticator.set_committed_token(self.committed_token());
        self.consensus.expire_forwarded(now);
        loop {
            self.drain_consensus();
            self.serving_upkeep(now);
            self.drain_serving(now);
            if self.consensus.effects.is_empty() && self.serving.effects.is_empty() {
                break;
            }
        }
        self.sync_node_keys(now);
        self.rearm_timers();
    }

    fn rearm_timers(&mut self) {
        self.timers.set(Timer::DiscoveryProbe, self.discovery.next_probe_at());
        self.timers.set(Timer::PeerExpiry, self.discovery.next_expiry_at());
        self.timers.set(Timer::Upkeep, Some(self.upkeep_at));
        for (timer, deadline) in self.consensus.deadlines() {
            self.timers.set(timer, deadline);
        }
    }
}

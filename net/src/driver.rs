//! The driver loop (the steps documented in `psionic_core`), on one UDP socket and a
//! durable store.

use psionic_core::ConsensusEvent;
use psionic_core::DiscoveryEvent;
use psionic_core::ServingEvent;
use std::collections::BTreeMap;
use std::sync::Arc;

use psionic_core::consensus::reads::{ReadId, ReadRefusal};
use psionic_core::consensus::{Authority, ProposalRejection, TransferRefusal};
use psionic_core::dispatch::{
    CancelRefusal, ExecutionReport, InferenceRequest, PlanRequest, RequestOutcome, SubmitRefusal,
};
use psionic_core::plan::{Placement, PlacementRefusal};
use psionic_core::serving::{Decision, Submitted};
use psionic_core::state::{ApplyRefusal, Origin};
use psionic_core::{
    ClusterCommand, DeviceReport, Event, Input, Node, NodeId, NodeStatus, Output, PeerHealth, ProposalId, RequestId,
    StateReport, TransportClass,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument as _;

use crate::clock::Clock;
use crate::durable::{DurableStore, StoreError};
use crate::metrics::NodeMetrics;
use crate::observer::Observer;
use crate::serving::Serving;
use crate::stream::{AbortOnDrop, Inbound, Outbound};
use crate::udp::{self, UdpSocket};
use crate::wake::Wake;

/// The outcome of one proposal: its index once committed and applied here, or why
/// it will not be committed.
pub type Outcome = Result<(u64, Option<ApplyRefusal>), ProposalRejection>;

/// Where a submission is answered: its placement (none: forwarded, and its outcome came
/// back without it) and a receiver of its outcome, or why it was not accepted.
pub type SubmitReply = oneshot::Sender<Result<(Option<Placement>, oneshot::Receiver<RequestOutcome>), SubmitRefusal>>;

/// A request from the application to the running node.
#[derive(Debug)]
pub enum Request {
    /// Propose commands; the reply carries each proposal's id and a receiver of its
    /// outcome (dropped unanswered if the node stops first).
    Propose {
        /// The commands, each with who proposes it.
        commands: Vec<(Origin, ClusterCommand)>,
        /// Whether a node that does not lead forwards them to its leader (else it
        /// rejects them, naming the leader).
        through_leader: bool,
        /// Where to answer.
        reply: oneshot::Sender<Vec<(ProposalId, oneshot::Receiver<Outcome>)>>,
    },
    /// Leader: send `decision` to `to`, stamped with this leadership's authority.
    IssueDecision {
        /// The receiver.
        to: NodeId,
        /// The decision.
        decision: Decision,
        /// The authority it was stamped with, or why it was not sent.
        reply: oneshot::Sender<Result<Authority, ProposalRejection>>,
    },
    /// Hand leadership to `to` (or the most up-to-date other voter).
    TransferLeadership {
        /// The voter to hand over to; none: the most up to date.
        to: Option<NodeId>,
        /// The voter asked to take over, or why none was.
        reply: oneshot::Sender<Result<NodeId, TransferRefusal>>,
    },
    /// This node's backend readiness and telemetry, as just probed.
    ReportDevices(DeviceReport),
    /// The artifacts this node's models directory holds, as just scanned.
    HoldArtifacts(std::collections::BTreeMap<psionic_core::Digest, psionic_core::state::Residency>),
    /// Hold these admission tokens from now on (trusted LAN: a rotation's next token
    /// added, or the old one dropped).
    ReplaceAdmissionTokens {
        /// The token in force.
        token: psionic_core::AdmissionToken,
        /// The token that replaces it, until a cut-over is committed.
        next: Option<psionic_core::AdmissionToken>,
    },
    /// Stage the key of `secret_key` (kept in the identity file first) as this node's
    /// next: the rotation record to commit, or why none was made.
    StageKey {
        /// The new secret key.
        secret_key: [u8; 32],
        /// Where to answer.
        reply: oneshot::Sender<Result<psionic_core::state::KeyRotation, psionic_core::state::RotationProblem>>,
    },
    /// Leader: place and dispatch an inference request; the reply carries its
    /// placement and a receiver of its outcome, or why it was not accepted.
    SubmitInference {
        /// The request.
        request: InferenceRequest,
        /// Whether a node that does not lead forwards it to its leader (the reply then
        /// comes once the leader placed it).
        through_leader: bool,
        /// Where its tokens go as they arrive, for a streaming request.
        tokens: Option<TokenSink>,
        /// Where to answer.
        reply: SubmitReply,
    },
    /// Compute a placement without dispatching it.
    Plan {
        /// What to place.
        request: PlanRequest,
        /// The placement, or why there is none.
        reply: oneshot::Sender<Result<Placement, PlacementRefusal>>,
    },
    /// Leader: cancel an in-flight request.
    CancelInference {
        /// The request.
        request: RequestId,
        /// Done, or why not.
        reply: oneshot::Sender<Result<(), CancelRefusal>>,
    },
    /// This node's status, built now.
    Status {
        /// Where to answer.
        reply: oneshot::Sender<NodeStatus>,
    },
    /// This node's view of the replicated state, built now.
    StateReport {
        /// Where to answer.
        reply: oneshot::Sender<StateReport>,
    },
    /// The replicated state, built once a linearizable read lets it be.
    LinearizableState {
        /// Where to answer.
        reply: oneshot::Sender<Result<StateReport, ReadRefusal>>,
    },
    /// A job the core handed out ended here.
    ExecutionEnded {
        /// The request.
        request: RequestId,
        /// How it ended.
        report: ExecutionReport,
    },
    /// The artifact disk finished a piece of staging work.
    StagingDone(psionic_core::staging::StagingDone),
    /// A streaming job the core handed out produced tokens.
    ExecutionProgress {
        /// The request.
        request: RequestId,
        /// The number of the first of them.
        offset: u32,
        /// The tokens.
        tokens: Vec<psionic_core::dispatch::Token>,
    },
}

/// Where a streaming request's tokens go as they arrive.
pub type TokenSink = mpsc::UnboundedSender<crate::runtime::TokenBatch>;

pub(crate) struct Driver {
    pub core: Node,
    pub socket: Arc<UdpSocket>,
    /// Datagrams received on `socket` (see [`udp::spawn_receiver`]).
    pub datagrams: mpsc::Receiver<udp::Datagram>,
    pub _datagram_receiver: AbortOnDrop,
    pub store: DurableStore,
    pub clock: Clock,
    pub observer: Arc<dyn Observer>,
    pub state: watch::Sender<StateReport>,
    pub shutdown: watch::Receiver<bool>,
    pub requests: mpsc::Receiver<Request>,
    /// Where the node's key is kept (made the staged one when its rotation applies).
    pub identity_file: crate::identity_file::IdentityFile,
    /// Proposals awaiting their outcome, with when they were made.
    pub waiters: BTreeMap<ProposalId, (tokio::time::Instant, oneshot::Sender<Outcome>)>,
    /// Linearizable reads awaiting their turn.
    pub reads: BTreeMap<ReadId, oneshot::Sender<Result<StateReport, ReadRefusal>>>,
    pub metrics: NodeMetrics,
    pub metrics_out: watch::Sender<NodeMetrics>,
    /// The span of the current term (inside the node's span), for logs.
    pub term_span: Option<(u64, tracing::Span)>,
    pub inbound: mpsc::Receiver<Inbound>,
    pub outbound: Outbound,
    pub _acceptor: Option<AbortOnDrop>,
    pub _device_reporter: Option<AbortOnDrop>,
    pub _artifact_scanner: Option<AbortOnDrop>,
    /// Carries out staging work on the artifact disk.
    pub staging: crate::artifacts::StagingWorker,
    /// When the state report was last published.
    pub state_published_at: tokio::time::Instant,
    /// Least time between two publications while the state moves.
    pub state_watch_min: std::time::Duration,
    /// Assignments running here and requests followed here.
    pub serving: Serving,
}

/// Most stream frames handed to the core in one input (one signature batch).
const STREAM_FRAMES_PER_INPUT_MAX: usize = 64;

/// Longest a published state report goes without a refresh (its telemetry ages).
const STATE_REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl Driver {
    /// Runs until shutdown is signalled or the store fails.
    pub async fn run(mut self) -> Result<(), StoreError> {
        let mut wake = Wake::new();
        loop {
            let span = self.term_span();
            self.carry_out_outputs().instrument(span).await?;
            wake.set(self.core.poll_timeout().map(|at| self.clock.deadline(at)));
            // `biased`: branches are polled in this order, with no random draw, so a
            // simulated run depends on its seed only. Timers before datagrams, so a
            // flood of datagrams cannot starve them.
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => break,
                () = wake.elapsed() => self.core.handle(self.clock.now(), Input::Timeout),
                Some(request) = self.requests.recv() => self.on_request(request),
                Some(first) = self.inbound.recv() => {
                    let input = self.stream_input(first);
                    self.core.handle(self.clock.now(), input);
                }
                Some((from, bytes)) = self.datagrams.recv() => {
                    self.core.handle(self.clock.now(), Input::Datagram { from, bytes });
                }
            }
        }
        let span = self.term_span();
        self.carry_out_outputs().instrument(span).await
    }

    /// Makes the staged key the identity file's own once its rotation applied. A
    /// failure is logged: the node goes on under the new key, and a restart takes it
    /// again from the staged key the log names.
    async fn keep_rotated_key(&self, key: psionic_core::PublicKey) {
        match self.identity_file.promote(key).await {
            Ok(true) => tracing::info!(%key, "node key rotated"),
            Ok(false) => tracing::warn!(%key, "node key rotated to a key the identity file does not stage"),
            Err(error) => tracing::error!(%error, "node key rotated but not kept; a restart takes it again"),
        }
    }

    /// Drops the stream to a peer that turned unreachable, and again when it answers
    /// after being unreachable. A connection that lived through a partition holds
    /// the frames written into it (and every later one) until the transport's
    /// retransmission backoff, which grows over the partition, lets them through; so
    /// does a connection opened during it. A fresh connection after the heal carries
    /// new frames at once; consensus retransmits what the dropped ones held.
    fn reset_stream_across_partition(&mut self, event: &Event) {
        let Event::Discovery(DiscoveryEvent::PeerHealthChanged { peer, from, to }) = event else {
            return;
        };
        let lost = *to == PeerHealth::Unreachable;
        let back = *from == PeerHealth::Unreachable;
        if (lost || back)
            && let Some(stream) = self.core.discovery().peer(*peer).and_then(|peer| peer.stream_addr())
        {
            self.outbound.reset(stream);
        }
    }

    /// The stream frame `first` and those already waiting behind it (at most
    /// [`STREAM_FRAMES_PER_INPUT_MAX`]) as one input, so the core can verify their
    /// signatures as one batch.
    fn stream_input(&mut self, first: Inbound) -> Input {
        let mut frames = vec![(first.from, first.bytes)];
        while frames.len() < STREAM_FRAMES_PER_INPUT_MAX {
            match self.inbound.try_recv() {
                Ok(Inbound { from, bytes }) => frames.push((from, bytes)),
                Err(_) => break,
            }
        }
        match <[_; 1]>::try_from(frames) {
            Ok([(from, bytes)]) => Input::Stream { from, bytes },
            Err(frames) => Input::Streams { frames },
        }
    }

    /// The span of the current term, made anew when the term changes.
    fn term_span(&mut self) -> tracing::Span {
        let term = self.core.consensus().hard_state().term;
        match &self.term_span {
            Some((spanned, span)) if *spanned == term => span.clone(),
            _ => {
                let span = tracing::info_span!("term", term);
                self.term_span = Some((term, span.clone()));
                span
            }
        }
    }

    fn on_request(&mut self, request: Request) {
        let now = self.clock.now();
        match request {
            Request::Propose {
                commands,
                through_leader,
                reply,
            } => {
                let ids = match through_leader {
                    true => self.core.propose_through_leader(now, commands),
                    false => self.core.propose_as(now, commands),
                };
                let receivers = ids
                    .into_iter()
                    .map(|id| {
                        let (sender, receiver) = oneshot::channel();
                        self.waiters.insert(id, (tokio::time::Instant::now(), sender));
                        (id, receiver)
                    })
                    .collect();
                let _ = reply.send(receivers);
            }
            Request::IssueDecision { to, decision, reply } => {
                let _ = reply.send(self.core.issue_decision(now, to, decision));
            }
            Request::TransferLeadership { to, reply } => {
                let _ = reply.send(self.core.transfer_leadership_to(now, to));
            }
            Request::ReplaceAdmissionTokens { token, next } => self.core.replace_admission_tokens(token, next),
            Request::StageKey { secret_key, reply } => {
                let _ = reply.send(self.core.stage_key(now, secret_key));
            }
            Request::ReportDevices(report) => {
                self.core.report_devices(now, report);
            }
            Request::HoldArtifacts(held) => self.core.hold_artifacts(now, held),
            Request::StagingDone(done) => self.core.staging_done(now, done),
            Request::SubmitInference {
                request,
                through_leader,
                reply,
                tokens,
            } => {
                let id = request.id;
                let submitted = match through_leader {
                    true => self.core.submit_request_through_leader(now, request),
                    false => {
                        (self.core.submit_request(now, request)).map(|placement| Submitted::Placed(Box::new(placement)))
                    }
                };
                // A sink is kept only for a request taken: a refused repeat of an id
                // in flight leaves the first submission's sink alone. (Its tokens come
                // as outputs, carried out after this request.)
                if let (Ok(_), Some(sink)) = (&submitted, tokens) {
                    self.serving.watch(id, sink);
                }
                match submitted {
                    Ok(Submitted::Placed(placement)) => {
                        let _ = reply.send(Ok((Some(*placement), self.serving.follow(id))));
                    }
                    Ok(Submitted::Forwarded { .. }) => self.serving.await_placement(id, reply),
                    Err(refusal) => {
                        let _ = reply.send(Err(refusal));
                    }
                }
            }
            Request::Plan { request, reply } => {
                let _ = reply.send(self.core.plan(now, &request));
            }
            Request::CancelInference { request, reply } => {
                let _ = reply.send(self.core.cancel_request(now, request));
            }
            Request::Status { reply } => {
                let _ = reply.send(self.core.status(now));
            }
            Request::StateReport { reply } => {
                let _ = reply.send(self.core.state_report(now));
            }
            Request::LinearizableState { reply } => {
                let id = self.core.read(now);
                self.reads.insert(id, reply);
            }
            Request::ExecutionEnded { request, report } => self.core.execution_ended(now, request, report),
            Request::ExecutionProgress {
                request,
                offset,
                tokens,
            } => {
                self.core.execution_progress(now, request, offset, tokens);
            }
        }
    }

    /// Publishes a new state report when the coordinator view or an index moved, or
    /// the last one is older than [`STATE_REFRESH_INTERVAL`] (telemetry changes
    /// without either); never sooner than `state_watch_min` after the last one.
    fn publish_state_if_moved(&mut self) {
        let since_published = self.state_published_at.elapsed();
        if since_published < self.state_watch_min {
            return;
        }
        let now = self.clock.now();
        let consensus = self.core.consensus();
        let moved = since_published >= STATE_REFRESH_INTERVAL || {
            let last = self.state.borrow();
            (last.coordinator, last.commit_index, last.applied_index)
                != (
                    consensus.coordinator_view(now),
                    consensus.commit_index(),
                    consensus.state().applied_index,
                )
        };
        if moved {
            self.state.send_replace(self.core.state_report(now));
            self.state_published_at = tokio::time::Instant::now();
        }
    }

    /// Answers the linearizable read `event` settles, if it is one.
    fn settle_read(&mut self, event: &Event) {
        let (id, outcome) = match event {
            Event::Consensus(ConsensusEvent::ReadReady { id, .. }) => (id, Ok(())),
            Event::Consensus(ConsensusEvent::ReadRefused { id, reason }) => (id, Err(*reason)),
            _ => return,
        };
        if let Some(reply) = self.reads.remove(id) {
            let _ = reply.send(outcome.map(|()| self.core.state_report(self.clock.now())));
        }
    }

    fn settle_waiter(&mut self, event: &Event) {
        let (id, outcome) = match event {
            Event::Consensus(ConsensusEvent::ProposalCommitted { id, index, refusal }) => (id, Ok((*index, *refusal))),
            Event::Consensus(ConsensusEvent::ProposalRejected { id, reason }) => (id, Err(*reason)),
            _ => return,
        };
        if let Some((proposed_at, waiter)) = self.waiters.remove(id) {
            self.metrics.proposal_latency.observe(proposed_at.elapsed());
            let _ = waiter.send(outcome);
        }
    }

    /// Carries out outputs in order: a persist completes (fsync) before any output
    /// after it.
    async fn carry_out_outputs(&mut self) -> Result<(), StoreError> {
        let node_id = self.core.node_id();
        let mut changed = false;
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Transmit(transmit) => {
                    self.observer.on_transmit(node_id, &transmit);
                    match transmit.class {
                        TransportClass::Stream => self.outbound.send(transmit.to, transmit.bytes),
                        TransportClass::Datagram => {
                            if let Err(error) = udp::send_to(&self.socket, &transmit.bytes, transmit.to).await {
                                tracing::debug!(%error, to = %transmit.to, "udp send failed");
                            }
                        }
                    }
                }
                Output::Event(event) => {
                    if matches!(event, Event::Consensus(ConsensusEvent::Recovered { .. })) {
                        self.store.end_recovery().await?;
                    }
                    if let Event::KeyRotated { key } = &event {
                        self.keep_rotated_key(*key).await;
                    }
                    self.observer.on_event(node_id, self.clock.now(), &event);
                    self.metrics.on_event(&event);
                    self.settle_waiter(&event);
                    self.settle_read(&event);
                    self.reset_stream_across_partition(&event);
                    self.serving.on_event(&event);
                    // Streamed tokens change nothing a status or state report shows.
                    changed |= !matches!(event, Event::Serving(ServingEvent::TokensProduced { .. }));
                }
                Output::PersistHardState(hard_state) => self.store.save_hard_state(hard_state).await?,
                Output::PersistEntries { first_index, entries } => {
                    self.store.save_entries(first_index, &entries).await?;
                    self.observer.on_log_persisted(node_id, first_index, &entries);
                }
                Output::PersistSnapshot(snapshot) => {
                    self.store.save_snapshot(&snapshot).await?;
                    self.observer.on_snapshot_persisted(node_id, &snapshot.meta);
                }
                Output::RunJob(job) => self.serving.run(job),
                Output::StopJob { request } => self.serving.stop(request),
                Output::Staging(io) => self.staging.carry_out(io),
            }
        }
        self.publish_state_if_moved();
        if changed {
            self.serving.follow_policy(self.core.consensus().state());
        }
        if changed {
            self.metrics.store = self.store.sizes();
            self.metrics_out.send_if_modified(|published| {
                let modified = *published != self.metrics;
                if modified {
                    published.clone_from(&self.metrics);
                }
                modified
            });
        }
        Ok(())
    }
}

//! Construction, message dispatch, timers, decisions and queries of [`Consensus`].

use super::ConsensusEvent;
use super::HeartbeatTelemetry;
use rand_chacha::ChaCha8Rng;

use super::ConsensusRefusal;
use super::election::VoteRequest;
use super::follower::Append;
use super::replication::AppendResponse;
use super::snapshot::Chunk;
use super::{
    Consensus, ConsensusConfig, CoordinatorView, Durable, Effect, Fence, HardState, RaftLog, RaftMessage, Role,
    RoleKind, StaleLeader,
};
use crate::identity::{ClusterId, NodeEpoch, NodeId};
use crate::state::ClusterState;
use crate::time::Instant;
use crate::timer::Timer;

/// Switches that plant known bugs, so simulation tests can prove the checkers catch
/// them. They act only in simulation builds (`--cfg madsim`); elsewhere they are inert.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mutations {
    /// Commit entries without waiting for a quorum.
    pub commit_without_quorum: bool,
    /// Grant votes without the up-to-date log check.
    pub vote_ignores_log: bool,
    /// Accept decisions whatever their fence.
    pub no_fence_check: bool,
    /// Take a voter change while another is uncommitted (drops the one-at-a-time rule).
    pub concurrent_config_change: bool,
    /// Take a voter change before the leader has committed an entry of its term.
    pub config_before_own_term_commit: bool,
    /// Answer an append before its entries are durable.
    pub ack_before_persist: bool,
    /// Truncate the log at an append's first entry even where the entries match, so an
    /// append arriving late cuts entries already committed.
    pub truncate_committed: bool,
    /// Answer linearizable reads from the local applied state.
    pub read_local_as_linearizable: bool,
    /// Answer a linearizable read once its read index is known, without waiting for
    /// the applied index to reach it.
    pub skip_read_index_wait: bool,
    /// Follow any sender that authenticates as leader, and take its decisions (drops
    /// the checks of who may lead and decide).
    pub follow_any_sender: bool,
    /// Admit every waiting candidate, listed or not.
    pub admit_unlisted: bool,
    /// Go on accepting (and sealing under) the admission token a committed cut-over
    /// retired.
    pub keep_retired_token: bool,
    /// Admit candidates whatever binary they measured.
    pub admit_unattested: bool,
    /// Go on accepting every key a node rotated from, retired or not.
    pub keep_retired_key: bool,
    /// Admit candidates whatever trust bundle they said.
    pub admit_untrusted: bool,
    /// Take a cut-over to an admission token however few voters were heard holding it.
    pub cut_over_without_quorum: bool,
    /// Report a forwarded proposal committed as soon as the leader took it, before it
    /// commits and is applied where it was sent.
    pub ack_forward_when_taken: bool,
    /// Count a staged copy resident once its last chunk is written, without the
    /// driver's check against the digest.
    pub staging_skips_verification: bool,
}

impl Consensus {
    /// Consensus of node `id` in its `epoch`, recovered from `durable`.
    pub fn new(
        (id, epoch, cluster_id): (NodeId, NodeEpoch, ClusterId),
        config: ConsensusConfig,
        durable: Durable,
        rng: ChaCha8Rng,
        now: Instant,
    ) -> Result<Self, super::RecoveryError> {
        let (state, snapshot, founded) = super::genesis::recover_state(&config, durable.snapshot)?;
        let snapshot_anchors = super::snapshot::SnapshotAnchors::of(&state, 0);
        let log = match &snapshot {
            Some(snapshot) => RaftLog::new(snapshot.meta.last_index, snapshot.meta.last_term, durable.entries),
            None => RaftLog::new(0, 0, durable.entries),
        };
        let mut consensus = Self {
            id,
            epoch,
            cluster_id,
            commit_index: log.snapshot_index(),
            hard: durable.hard_state,
            fence_seen: Fence(durable.hard_state.term),
            log,
            state,
            snapshot,
            incoming_snapshot: None,
            role: Role::Follower,
            leader: None,
            leader_contact_at: None,
            started_at: now,
            election_deadline: None,
            heartbeat_deadline: None,
            maintenance_deadline: None,
            check_quorum_deadline: None,
            leaders_seen: Default::default(),
            vouched_leader: None,
            next_proposal_seq: 0,
            admission_tokens: Vec::new(),
            snapshot_anchors,
            learned_keys: Default::default(),
            key_generation: 0,
            claims: Default::default(),
            trust: None,
            pending_proposals: Default::default(),
            forwarded: Default::default(),
            rng,
            effects: Vec::new(),
            applied_bytes_since_snapshot: 0,
            digest_cache: None,
            digest_scratch: Vec::new(),
            signer: None,
            mutations: Mutations::default(),
            recovering: durable.restored,
            reads: Default::default(),
            config,
        };
        if let Some(genesis) = founded {
            consensus.effects.push(Effect::PersistSnapshot(genesis));
        }
        consensus.reset_election_deadline(now);
        if consensus.effective_voters() == std::collections::BTreeSet::from([consensus.id]) {
            // Its own quorum: nobody to wait for, and no leader to recover from.
            consensus.election_deadline = Some(now);
            if consensus.recovering {
                consensus.recovering = false;
                let (term, leader, commit_index) = (consensus.hard.term, consensus.id, consensus.commit_index);
                consensus.push_event(ConsensusEvent::Recovered {
                    term,
                    leader,
                    commit_index,
                });
            }
        }
        Ok(consensus)
    }

    /// Plants known bugs (simulation builds only).
    pub fn set_mutations(&mut self, mutations: Mutations) {
        self.mutations = mutations;
    }

    pub(crate) fn mutations_commit_without_quorum(&self) -> bool {
        cfg!(madsim) && self.mutations.commit_without_quorum
    }

    /// The planted bugs in force (none outside simulation builds).
    pub(crate) fn mutations(&self) -> Mutations {
        if cfg!(madsim) {
            self.mutations
        } else {
            Mutations::default()
        }
    }

    /// Handles a consensus message from the authenticated `from`.
    pub(crate) fn on_message(
        &mut self,
        now: Instant,
        from: NodeId,
        message: RaftMessage,
        telemetry: &mut dyn HeartbeatTelemetry,
    ) {
        if let Err(fault) = message.check_values() {
            return self.refuse_values(from, fault);
        }
        match message {
            RaftMessage::VoteRequest {
                term,
                last_log_index,
                last_log_term,
                pre_vote,
                transfer,
                genesis,
            } => {
                let request = VoteRequest {
                    term,
                    last_log_index,
                    last_log_term,
                    pre_vote,
                    transfer,
                    genesis,
                };
                self.on_vote_request(now, from, request);
            }
            RaftMessage::VoteResponse {
                term,
                granted,
                pre_vote,
                leader,
                endorsement,
            } => {
                let vote = super::election::Vote {
                    term,
                    granted,
                    pre_vote,
                    leader,
                    endorsement,
                };
                self.on_vote_response(now, from, vote);
            }
            RaftMessage::Append {
                term,
                prev_index,
                prev_term,
                entries,
                leader_commit,
                genesis,
                sent_us,
            } => {
                self.on_append(
                    now,
                    from,
                    Append {
                        term,
                        prev_index,
                        prev_term,
                        entries: entries.into_vec(),
                        leader_commit,
                        genesis,
                        sent_us,
                    },
                    telemetry,
                );
            }
            RaftMessage::AppendResponse {
                term,
                success,
                match_index,
                conflict_index,
                last_index,
                state_schema,
                report,
                genesis,
                echo_us,
            } => {
                if self.is_leader() && self.state.is_member(from) {
                    telemetry.on_report(now, from, report);
                }
                let response = AppendResponse {
                    term,
                    success,
                    match_index,
                    conflict_index,
                    last_index,
                    state_schema,
                    genesis,
                    echo_us,
                };
                self.on_append_response(now, from, response);
            }
            RaftMessage::SnapshotChunk {
                term,
                meta,
                offset,
                data,
            } => {
                self.on_snapshot_chunk(
                    now,
                    from,
                    Chunk {
                        term,
                        meta,
                        offset,
                        data: data.into_vec(),
                    },
                );
            }
            RaftMessage::SnapshotResponse {
                term,
                snapshot_index,
                received_bytes,
                installed,
            } => {
                self.on_snapshot_response(now, from, term, snapshot_index, received_bytes, installed);
            }
            RaftMessage::TimeoutNow { term } => self.on_timeout_now(now, from, term),
            RaftMessage::ReadIndex { request } => self.on_read_index(now, from, request),
            RaftMessage::ReadIndexAnswer { request, index } => self.on_read_index_answer(now, from, request, index),
            RaftMessage::Forward { proposals } => self.on_forward(now, from, proposals),
            RaftMessage::ForwardTaken { id, index } => self.on_forward_taken(from, id, index),
            RaftMessage::ForwardRejected { id, reason } => self.on_forward_rejected(from, id, reason),
        }
    }

    /// Fires `timer` if it is one of consensus's and due.
    pub(crate) fn on_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Election => self.on_election_timeout(now),
            Timer::Heartbeat => self.broadcast_append(now),
            Timer::Maintenance => {
                self.maintenance_deadline = Some(now + crate::time::ms(self.config.heartbeat_interval_ms));
                self.expire_transfer(now);
            }
            Timer::CheckQuorum => self.on_check_quorum(now),
            Timer::DiscoveryProbe | Timer::PeerExpiry | Timer::Upkeep => {}
        }
    }

    /// Deadlines of consensus's timers.
    pub(crate) fn deadlines(&self) -> [(Timer, Option<Instant>); 4] {
        [
            (Timer::Election, self.election_deadline),
            (Timer::Heartbeat, self.heartbeat_deadline),
            (Timer::Maintenance, self.maintenance_deadline),
            (Timer::CheckQuorum, self.check_quorum_deadline),
        ]
    }

    pub(crate) fn refuse_values(&mut self, sender: NodeId, fault: super::message::ValueFault) {
        self.effects
            .push(Effect::Refuse(ConsensusRefusal::ImpossibleValues { sender, fault }));
    }

    pub(crate) fn push_event(&mut self, event: ConsensusEvent) {
        self.effects.push(Effect::Event(event));
    }

    /// Current term and vote.
    pub fn hard_state(&self) -> HardState {
        self.hard
    }

    /// Highest index known committed.
    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }

    /// Digest of the applied state (reused when it was computed at this index).
    pub fn state_digest(&self) -> crate::digest::Digest {
        match self.digest_cache {
            Some((index, digest)) if index == self.state.applied_index => digest,
            _ => self.state.digest(),
        }
    }

    /// The applied state.
    pub fn state(&self) -> &ClusterState {
        &self.state
    }

    /// The log.
    pub fn log(&self) -> &RaftLog {
        &self.log
    }

    /// The leader this node follows (itself when leading).
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// Who coordinates, and whether that view is current at `now`.
    pub fn coordinator_view(&self, now: Instant) -> CoordinatorView {
        let effective = self.in_leader_contact(now);
        let lease_ms = self.config.election_timeout_ms_min;
        let stale = match (&self.role, effective) {
            (_, true) => None,
            (Role::Leader(leadership), false) => Some(StaleLeader::LeaseExpired {
                since_ms: now
                    .saturating_since(self.lease_start(now).unwrap_or(leadership.since))
                    .as_millis() as u64,
                lease_ms: self.lease_length().as_millis() as u64,
            }),
            (_, false) => match (self.leader, self.leader_contact_at) {
                (Some(_), Some(at)) => Some(StaleLeader::LeaderSilent {
                    silent_ms: now.saturating_since(at).as_millis() as u64,
                    timeout_ms: lease_ms,
                }),
                _ => Some(StaleLeader::NoLeader),
            },
        };
        CoordinatorView {
            term: self.hard.term,
            leader: self.leader,
            role: self.role_kind(),
            effective,
            stale,
        }
    }

    /// Whether this node leads.
    pub fn is_leader(&self) -> bool {
        self.role_kind() == RoleKind::Leader
    }

    /// When this node's leadership began; none when it does not lead.
    pub fn leadership_since(&self) -> Option<Instant> {
        match &self.role {
            Role::Leader(leadership) => Some(leadership.since),
            _ => None,
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The cluster this node belongs to.
    pub fn cluster_id(&self) -> ClusterId {
        self.cluster_id
    }

    /// Consensus timing and limits.
    pub fn config(&self) -> &ConsensusConfig {
        &self.config
    }
}

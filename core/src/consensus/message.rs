//! Consensus messages. The sender is the envelope's authenticated sender.

use serde::{Deserialize, Serialize};

use super::entries::AppendEntries;
use super::log::Entry;
use super::snapshot::SnapshotMeta;
use crate::backend::{HeartbeatReport, LINKS_PER_REPORT_MAX};
use crate::detached::Detached;
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::state::{Proposal, ProposalId};

pub use crate::limits::{APPEND_ENTRIES_MAX, INDEX_MAX, SNAPSHOT_CHUNK_BYTES_MAX, TERM_MAX};

/// A consensus message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftMessage {
    /// Asks for a vote (or, with `pre_vote`, whether a vote would be granted).
    VoteRequest {
        /// The term the candidate stands for.
        term: u64,
        /// Index of the candidate's last entry.
        last_log_index: u64,
        /// Term of the candidate's last entry.
        last_log_term: u64,
        /// A pre-vote: nobody changes term or vote.
        pre_vote: bool,
        /// Sent on the leader's request (leadership transfer): ignores leader stickiness.
        transfer: bool,
        /// The candidate's genesis: a voter of another genesis refuses.
        genesis: Digest,
    },
    /// Answers a vote request.
    VoteResponse {
        /// The term answered for (the voter's term if refused with a newer one).
        term: u64,
        /// Whether granted.
        granted: bool,
        /// Whether it answers a pre-vote.
        pre_vote: bool,
        /// Refused: the leader the voter follows in `term`, if any (so a node whose
        /// configuration does not yet make that leader a voter may take it on the
        /// word of a voter it knows).
        leader: Option<NodeId>,
        /// Granted (not a pre-vote): the voter's signature over the vote, proof of
        /// leadership once a quorum holds.
        endorsement: Option<Box<super::endorsement::Endorsement>>,
    },
    /// Entries (possibly none: a heartbeat) following `prev_index`.
    Append {
        /// The leader's term.
        term: u64,
        /// Index of the entry before the first carried.
        prev_index: u64,
        /// Its term.
        prev_term: u64,
        /// Entries, at most [`APPEND_ENTRIES_MAX`].
        entries: AppendEntries,
        /// The leader's commit index.
        leader_commit: u64,
        /// The leader's genesis: a follower of another genesis refuses the append.
        genesis: Digest,
        /// The leader's clock when it sent this, in microseconds; echoed in the answer,
        /// so the leader's lease starts when the acknowledged round was sent.
        sent_us: u64,
    },
    /// Answers an append.
    AppendResponse {
        /// The follower's term.
        term: u64,
        /// Whether the entries matched and were stored.
        success: bool,
        /// On success: the last index known to match the leader's log.
        match_index: u64,
        /// On failure: where the leader should retry from.
        conflict_index: u64,
        /// The follower's last log index.
        last_index: u64,
        /// The follower's state schema version.
        state_schema: u16,
        /// Its telemetry, and its readiness while the record differs.
        report: HeartbeatReport,
        /// The follower's genesis; none while it has not received its cluster's state
        /// (the leader then sends it the snapshot).
        genesis: Option<Digest>,
        /// The `sent_us` of the append answered.
        echo_us: u64,
    },
    /// One chunk of a snapshot.
    SnapshotChunk {
        /// The leader's term.
        term: u64,
        /// Which snapshot.
        meta: SnapshotMeta,
        /// Byte offset of `data` in the snapshot payload.
        offset: u64,
        /// The bytes, at most [`SNAPSHOT_CHUNK_BYTES_MAX`]; detached from the frame's
        /// tag, authenticated by `meta`'s digest once the payload is whole.
        data: Detached,
    },
    /// Answers a snapshot chunk.
    SnapshotResponse {
        /// The follower's term.
        term: u64,
        /// The snapshot's last index.
        snapshot_index: u64,
        /// Bytes received in order so far (where the next chunk must start).
        received_bytes: u64,
        /// Whether the snapshot is verified and installed.
        installed: bool,
    },
    /// The leader asks the receiver to campaign at once (leadership transfer).
    TimeoutNow {
        /// The leader's term.
        term: u64,
    },
    /// A follower asks the leader for a read index (a linearizable read).
    ReadIndex {
        /// The follower's id for the read.
        request: u64,
    },
    /// The leader's answer: the index the follower must apply before it answers, once
    /// the leader confirmed with a quorum that it still leads; none if it does not.
    ReadIndexAnswer {
        /// The follower's id for the read.
        request: u64,
        /// The read index.
        index: Option<u64>,
    },
    /// Proposals a node that does not lead forwards to its leader, under ids it minted.
    Forward {
        /// The proposals.
        proposals: Vec<Proposal>,
    },
    /// The leader's answer: the forwarded proposal took `index`.
    ForwardTaken {
        /// The proposal.
        id: ProposalId,
        /// The index it took.
        index: u64,
    },
    /// The leader's answer: the forwarded proposal will not be appended.
    ForwardRejected {
        /// The proposal.
        id: ProposalId,
        /// Why.
        reason: super::ProposalRejection,
    },
}

impl RaftMessage {
    /// The term the message carries, if any.
    pub fn term(&self) -> Option<u64> {
        match self {
            RaftMessage::VoteRequest { term, .. }
            | RaftMessage::VoteResponse { term, .. }
            | RaftMessage::Append { term, .. }
            | RaftMessage::AppendResponse { term, .. }
            | RaftMessage::SnapshotChunk { term, .. }
            | RaftMessage::SnapshotResponse { term, .. }
            | RaftMessage::TimeoutNow { term } => Some(*term),
            RaftMessage::ReadIndex { .. }
            | RaftMessage::ReadIndexAnswer { .. }
            | RaftMessage::Forward { .. }
            | RaftMessage::ForwardTaken { .. }
            | RaftMessage::ForwardRejected { .. } => None,
        }
    }

    /// Checks the limits postcard cannot express.
    pub fn within_limits(&self) -> Result<(), (usize, usize)> {
        match self {
            RaftMessage::Append { entries, .. } if entries.len() > APPEND_ENTRIES_MAX => {
                Err((entries.len(), APPEND_ENTRIES_MAX))
            }
            RaftMessage::Forward { proposals } if proposals.len() > APPEND_ENTRIES_MAX => {
                Err((proposals.len(), APPEND_ENTRIES_MAX))
            }
            RaftMessage::SnapshotChunk { data, .. } if data.len() > SNAPSHOT_CHUNK_BYTES_MAX => {
                Err((data.len(), SNAPSHOT_CHUNK_BYTES_MAX))
            }
            RaftMessage::AppendResponse {
                report:
                    HeartbeatReport {
                        telemetry: Some(telemetry),
                        ..
                    },
                ..
            } if telemetry.links.len() > LINKS_PER_REPORT_MAX => Err((telemetry.links.len(), LINKS_PER_REPORT_MAX)),
            _ => Ok(()),
        }
    }
}

/// Values a consensus message cannot hold, whoever sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum ValueFault {
    /// A term or fence above [`TERM_MAX`].
    #[error("term {term} is above {max}")]
    TermTooLarge {
        /// The term.
        term: u64,
        /// [`TERM_MAX`].
        max: u64,
    },
    /// A log index above [`INDEX_MAX`].
    #[error("index {index} is above {max}")]
    IndexTooLarge {
        /// The index.
        index: u64,
        /// [`INDEX_MAX`].
        max: u64,
    },
    /// An append's entries do not follow `prev_index` one by one.
    #[error("entry at position {position} has index {got}, expected {expected}")]
    NotContiguous {
        /// Position in the append.
        position: usize,
        /// Index it should have.
        expected: u64,
        /// Index it has.
        got: u64,
    },
    /// An append response acknowledges entries beyond the leader's last index.
    #[error("match index {match_index} is beyond the last index {last_index}")]
    MatchBeyondLog {
        /// Index acknowledged.
        match_index: u64,
        /// The leader's last index.
        last_index: u64,
    },
    /// An append's entry terms go down, or above the append's own term, or below the
    /// term of the entry before them.
    #[error("entry {index} has term {got}, outside {low}..={high}")]
    EntryTerm {
        /// The entry.
        index: u64,
        /// Its term.
        got: u64,
        /// Lowest term allowed there.
        low: u64,
        /// Highest term allowed there.
        high: u64,
    },
    /// Streamed tokens that end past the most a request may ask for.
    #[error("streamed tokens end at {end}, past the {max} a request may ask for")]
    TokensBeyondMax {
        /// Offset plus count.
        end: u64,
        /// The most tokens a request may ask for.
        max: u32,
    },
}

impl RaftMessage {
    /// Checks values that no honest sender produces: terms and indexes that would
    /// overflow, and appends whose entries are not contiguous or whose terms are out
    /// of order.
    pub fn check_values(&self) -> Result<(), ValueFault> {
        let term = |term: u64| match term > TERM_MAX {
            true => Err(ValueFault::TermTooLarge { term, max: TERM_MAX }),
            false => Ok(()),
        };
        let index = |index: u64| match index > INDEX_MAX {
            true => Err(ValueFault::IndexTooLarge { index, max: INDEX_MAX }),
            false => Ok(()),
        };
        self.term().map_or(Ok(()), term)?;
        match self {
            RaftMessage::VoteRequest {
                last_log_index,
                last_log_term,
                ..
            } => {
                term(*last_log_term)?;
                index(*last_log_index)
            }
            RaftMessage::Append {
                term: leader_term,
                prev_index,
                prev_term,
                entries,
                leader_commit,
                ..
            } => {
                term(*prev_term)?;
                index(*prev_index)?;
                index(*leader_commit)?;
                check_entries(*leader_term, *prev_index, *prev_term, entries)
            }
            RaftMessage::AppendResponse {
                match_index,
                conflict_index,
                last_index,
                ..
            } => {
                index(*match_index)?;
                index(*conflict_index)?;
                index(*last_index)
            }
            RaftMessage::SnapshotChunk { meta, .. } => {
                term(meta.last_term)?;
                index(meta.last_index)
            }
            RaftMessage::SnapshotResponse { snapshot_index, .. } => index(*snapshot_index),
            RaftMessage::ReadIndexAnswer { index: read_index, .. } => read_index.map_or(Ok(()), index),
            RaftMessage::ForwardTaken { index: taken, .. } => index(*taken),
            RaftMessage::Forward { .. } | RaftMessage::ForwardRejected { .. } => Ok(()),
            RaftMessage::VoteResponse { .. } | RaftMessage::TimeoutNow { .. } | RaftMessage::ReadIndex { .. } => Ok(()),
        }
    }
}

/// Entries follow `prev_index` one by one, with terms from `prev_term` up to the
/// leader's term, never going down.
fn check_entries(leader_term: u64, prev_index: u64, prev_term: u64, entries: &[Entry]) -> Result<(), ValueFault> {
    let mut low = prev_term;
    for (position, entry) in entries.iter().enumerate() {
        let expected = prev_index.saturating_add(1).saturating_add(position as u64);
        if entry.index != expected {
            return Err(ValueFault::NotContiguous {
                position,
                expected,
                got: entry.index,
            });
        }
        if entry.term < low || entry.term > leader_term {
            return Err(ValueFault::EntryTerm {
                index: entry.index,
                got: entry.term,
                low,
                high: leader_term,
            });
        }
        low = entry.term;
    }
    Ok(())
}

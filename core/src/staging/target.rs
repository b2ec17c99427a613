//! The copies this node makes: one transfer per artifact the applied state shows it
//! staging, each fetching one chunk at a time from a holder and handing it to the
//! driver's disk.

use std::collections::BTreeMap;

use super::{
    Manifest, STAGING_CHUNK_BYTES_MAX, STAGING_FETCH_TIMEOUT_MS, STAGING_TRANSFERS_MAX, StagingEffect, StagingEvent,
    StagingFailure, StagingIo, StagingMessage, StagingRefusal,
};
use crate::artifacts::ARTIFACT_REPORT_RETRY_MS;
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::state::{ClusterCommand, ClusterState, Residency};
use crate::time::{Instant, ms};

/// Where a transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the driver to open the partial copy.
    Opening,
    /// Waiting for a chunk (or for a holder to ask).
    Fetching,
    /// Waiting for the driver to write a chunk.
    Writing,
    /// Waiting for the driver to verify the copy.
    Finishing,
    /// Verified and moved in.
    Finished,
    /// Failed; its bytes discarded.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Transfer {
    phase: Phase,
    /// The files, from the first chunk.
    manifest: Option<Manifest>,
    /// Contiguous bytes the copy holds.
    bytes_done: u64,
    /// The holder last asked.
    source: Option<NodeId>,
    /// When the fetch in flight went out.
    asked_at: Option<Instant>,
    /// When progress was last reported.
    reported_at: Option<Instant>,
    /// The applied index when it finished or failed.
    ended_at_index: Option<u64>,
}

impl Transfer {
    fn bytes_total(&self) -> Option<u64> {
        self.manifest.as_ref().map(Manifest::total_bytes)
    }
}

/// What a step of a transfer reads: the time, this node, and the applied state.
#[derive(Clone, Copy, Debug)]
pub struct Here<'a> {
    /// Now.
    pub now: Instant,
    /// This node.
    pub me: NodeId,
    /// The applied state.
    pub state: &'a ClusterState,
}

/// A chunk as it arrived.
#[derive(Clone, Debug)]
pub struct ArrivedChunk {
    /// Its sender.
    pub from: NodeId,
    /// The artifact.
    pub artifact: Digest,
    /// The files, as the sender states them.
    pub manifest: Manifest,
    /// Offset in the concatenation.
    pub offset: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// This node's transfers, by artifact.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transfers {
    by_artifact: BTreeMap<Digest, Transfer>,
    /// A planted bug (simulation only): a copy counts once whole, unverified.
    unverified: bool,
}

/// The artifacts the applied state shows `me` staging.
fn staging_intents(me: NodeId, state: &ClusterState) -> Vec<Digest> {
    state
        .residency
        .get(&me)
        .into_iter()
        .flatten()
        .filter(|(_, residency)| matches!(residency, Residency::Staging { .. }))
        .map(|(artifact, _)| *artifact)
        .collect()
}

/// Whether someone other than `me` asked again for the copy of `artifact` after the
/// one that ended at `ended_at_index` (its own late progress reports do not count).
fn staged_again(me: NodeId, state: &ClusterState, artifact: Digest, ended_at_index: Option<u64>) -> bool {
    ended_at_index.is_some_and(|index| state.residency_set_by_other_after(me, artifact, index))
}

/// The holder's manifest names a file an artifact does not hold (the disk wrote
/// nothing): the transfer asks another holder.
fn skip_foreign(transfer: &mut Transfer, artifact: Digest, name: String, effects: &mut Vec<StagingEffect>) {
    transfer.phase = Phase::Fetching;
    transfer.manifest = None;
    transfer.asked_at = None;
    if let Some(sender) = transfer.source {
        let refusal = StagingRefusal::ForeignFile { sender, artifact, name };
        effects.push(StagingEffect::Refuse(refusal));
    }
}

/// The holder to ask after `last`: the members other than `me` the applied state shows
/// holding `artifact` resident, in id order, cycling.
fn next_holder(me: NodeId, state: &ClusterState, artifact: Digest, last: Option<NodeId>) -> Option<NodeId> {
    let holders: Vec<NodeId> = state
        .residency
        .iter()
        .filter(|(node, by_artifact)| {
            **node != me
                && state.members.contains_key(*node)
                && by_artifact.get(&artifact) == Some(&Residency::Resident)
        })
        .map(|(node, _)| *node)
        .collect();
    let after = last.and_then(|last| holders.iter().find(|node| **node > last).copied());
    after.or_else(|| holders.first().copied())
}

impl Transfers {
    /// Records `applied_index` as when the transfers that ended since the last call
    /// ended (a later intent by someone else starts them again).
    pub fn stamp_ended(&mut self, applied_index: u64) {
        for transfer in self.by_artifact.values_mut() {
            if matches!(transfer.phase, Phase::Finished | Phase::Failed) && transfer.ended_at_index.is_none() {
                transfer.ended_at_index = Some(applied_index);
            }
        }
    }

    /// The transfer of `artifact`, if it waits in `phase` (an answer for a transfer
    /// gone or past that step is stale).
    fn waiting(&mut self, artifact: Digest, phase: Phase) -> Option<&mut Transfer> {
        self.by_artifact
            .get_mut(&artifact)
            .filter(|transfer| transfer.phase == phase)
    }

    /// Plants the bug of counting a whole copy without its verification.
    pub fn skip_verification(&mut self, unverified: bool) {
        self.unverified = unverified;
    }

    /// Bytes copied and total (once known) of the transfer of `artifact`.
    pub fn progress(&self, artifact: &Digest) -> Option<(u64, Option<u64>)> {
        let transfer = self.by_artifact.get(artifact)?;
        Some((transfer.bytes_done, transfer.bytes_total()))
    }

    /// Starts a transfer for each new intent (an artifact `held` shows resident needs
    /// none), drops those whose intent is gone (discarding a copy not finished), and
    /// asks again where a fetch went unanswered.
    pub fn upkeep(
        &mut self,
        here: Here<'_>,
        held_resident: impl Fn(&Digest) -> bool,
        effects: &mut Vec<StagingEffect>,
    ) {
        let Here { now, me, state } = here;
        let intents: Vec<Digest> = staging_intents(me, state)
            .into_iter()
            .filter(|artifact| !held_resident(artifact))
            .collect();
        self.by_artifact
            .retain(|artifact, transfer| !staged_again(me, state, *artifact, transfer.ended_at_index));
        self.by_artifact.retain(|artifact, transfer| {
            let wanted = intents.contains(artifact);
            if !wanted && !matches!(transfer.phase, Phase::Finished | Phase::Failed) {
                effects.push(StagingEffect::Io(StagingIo::Discard { artifact: *artifact }));
            }
            wanted
        });
        for artifact in intents {
            if !self.by_artifact.contains_key(&artifact) && self.by_artifact.len() < STAGING_TRANSFERS_MAX {
                self.by_artifact.insert(
                    artifact,
                    Transfer {
                        phase: Phase::Opening,
                        manifest: None,
                        bytes_done: 0,
                        source: None,
                        asked_at: None,
                        reported_at: None,
                        ended_at_index: None,
                    },
                );
                effects.push(StagingEffect::Io(StagingIo::Open { artifact }));
            }
        }
        let timeout = ms(STAGING_FETCH_TIMEOUT_MS);
        let artifacts: Vec<Digest> = self.by_artifact.keys().copied().collect();
        for artifact in artifacts {
            let transfer = &self.by_artifact[&artifact];
            let quiet = transfer.asked_at.is_none_or(|at| now.saturating_since(at) >= timeout);
            if transfer.phase == Phase::Fetching && quiet {
                self.fetch(here, artifact, true, effects);
            }
        }
    }

    /// The progress reports due: `staging` with the bytes copied, for each transfer
    /// whose total is known and that the state shows otherwise, at most every
    /// [`ARTIFACT_REPORT_RETRY_MS`].
    pub fn reports_due(&mut self, now: Instant, me: NodeId, state: &ClusterState) -> Vec<ClusterCommand> {
        let recorded = state.residency.get(&me);
        let mut commands = Vec::new();
        for (artifact, transfer) in &mut self.by_artifact {
            let (Some(bytes_total), Phase::Fetching | Phase::Writing | Phase::Finishing) =
                (transfer.bytes_total(), transfer.phase)
            else {
                continue;
            };
            let residency = Residency::Staging {
                bytes_done: transfer.bytes_done,
                bytes_total,
            };
            let shown = recorded.and_then(|by_artifact| by_artifact.get(artifact)) == Some(&residency);
            let fresh = transfer
                .reported_at
                .is_some_and(|at| now.saturating_since(at) < ms(ARTIFACT_REPORT_RETRY_MS));
            if !shown && !fresh {
                transfer.reported_at = Some(now);
                commands.push(ClusterCommand::SetArtifactResidency {
                    node: me,
                    artifact: *artifact,
                    residency,
                });
            }
        }
        commands
    }

    /// Asks the next holder (with `rotate`) or the same one for the chunk the transfer
    /// of `artifact` needs next.
    fn fetch(&mut self, here: Here<'_>, artifact: Digest, rotate: bool, effects: &mut Vec<StagingEffect>) {
        let Here { now, me, state } = here;
        let Some(transfer) = self.by_artifact.get_mut(&artifact) else {
            return;
        };
        let source = match (rotate, transfer.source) {
            (false, Some(source)) => Some(source),
            _ => next_holder(me, state, artifact, transfer.source),
        };
        transfer.phase = Phase::Fetching;
        transfer.source = source;
        transfer.asked_at = source.map(|_| now);
        let Some(source) = source else { return };
        let offset = transfer.bytes_done;
        if rotate {
            effects.push(StagingEffect::Event(StagingEvent::StagingFetching {
                artifact,
                source,
                offset,
            }));
        }
        effects.push(StagingEffect::Send {
            to: source,
            message: StagingMessage::Fetch { artifact, offset },
        });
    }

    /// The driver opened the partial copy of `artifact`.
    pub fn on_opened(
        &mut self,
        here: Here<'_>,
        artifact: Digest,
        result: Result<u64, StagingFailure>,
        effects: &mut Vec<StagingEffect>,
    ) {
        let Some(transfer) = self.waiting(artifact, Phase::Opening) else {
            return;
        };
        match result {
            Ok(bytes_present) => {
                transfer.bytes_done = bytes_present;
                self.fetch(here, artifact, true, effects);
            }
            Err(failure) => self.fail(artifact, failure, effects),
        }
    }

    /// A chunk arrived: written if it is the one asked for.
    pub fn on_chunk(&mut self, chunk: ArrivedChunk, effects: &mut Vec<StagingEffect>) {
        let ArrivedChunk {
            from,
            artifact,
            manifest,
            offset,
            bytes,
        } = chunk;
        let transfer = self.by_artifact.get_mut(&artifact);
        let expected = transfer
            .as_ref()
            .filter(|transfer| transfer.phase == Phase::Fetching && transfer.source == Some(from))
            .map(|transfer| transfer.bytes_done);
        let (Some(transfer), Some(expected_offset)) = (transfer, expected) else {
            let refusal = StagingRefusal::UnexpectedChunk {
                sender: from,
                artifact,
                offset,
                expected_offset: None,
            };
            return effects.push(StagingEffect::Refuse(refusal));
        };
        if offset != expected_offset {
            let refusal = StagingRefusal::UnexpectedChunk {
                sender: from,
                artifact,
                offset,
                expected_offset: Some(expected_offset),
            };
            return effects.push(StagingEffect::Refuse(refusal));
        }
        if transfer.manifest.as_ref().is_some_and(|known| *known != manifest) {
            let refusal = StagingRefusal::ManifestChanged { sender: from, artifact };
            transfer.asked_at = None;
            return effects.push(StagingEffect::Refuse(refusal));
        }
        let total_bytes = manifest.total_bytes();
        let Some(left) = total_bytes.checked_sub(offset) else {
            // A holder whose artifact is shorter than the copy so far: ask the next.
            let refusal = StagingRefusal::ChunkLength {
                sender: from,
                artifact,
                len: bytes.len() as u64,
                expected_len: 0,
            };
            transfer.asked_at = None;
            return effects.push(StagingEffect::Refuse(refusal));
        };
        let expected_len = left.min(STAGING_CHUNK_BYTES_MAX as u64);
        if bytes.len() as u64 != expected_len {
            let refusal = StagingRefusal::ChunkLength {
                sender: from,
                artifact,
                len: bytes.len() as u64,
                expected_len,
            };
            transfer.asked_at = None;
            return effects.push(StagingEffect::Refuse(refusal));
        }
        transfer.manifest = Some(manifest.clone());
        transfer.asked_at = None;
        if bytes.is_empty() {
            transfer.phase = Phase::Finishing;
            return effects.push(StagingEffect::Io(StagingIo::Finish { artifact, manifest }));
        }
        transfer.phase = Phase::Writing;
        effects.push(StagingEffect::Io(StagingIo::Write {
            artifact,
            manifest,
            offset,
            bytes,
        }));
    }

    /// The holder asked does not hold `artifact`: the next is asked on the next
    /// upkeep (so a lone holder that lost it is asked at the upkeep's pace, not in a
    /// loop).
    pub fn on_missing(&mut self, from: NodeId, artifact: Digest) {
        if let Some(transfer) = self.by_artifact.get_mut(&artifact)
            && transfer.phase == Phase::Fetching
            && transfer.source == Some(from)
        {
            transfer.asked_at = None;
        }
    }

    /// The driver wrote a chunk: the next is asked for, or the copy is finished.
    pub fn on_written(
        &mut self,
        here: Here<'_>,
        artifact: Digest,
        result: Result<u64, StagingFailure>,
        effects: &mut Vec<StagingEffect>,
    ) {
        let unverified = self.unverified;
        let Some(transfer) = self.waiting(artifact, Phase::Writing) else {
            return;
        };
        let bytes_done = match result {
            Ok(bytes_done) => bytes_done,
            Err(StagingFailure::FileName { name }) => return skip_foreign(transfer, artifact, name, effects),
            Err(failure) => return self.fail(artifact, failure, effects),
        };
        let manifest = transfer.manifest.clone().unwrap_or_default();
        let total_bytes = manifest.total_bytes();
        if bytes_done > total_bytes {
            let failure = StagingFailure::Beyond {
                offset: bytes_done,
                total_bytes,
            };
            return self.fail(artifact, failure, effects);
        }
        transfer.bytes_done = bytes_done;
        if bytes_done == total_bytes && unverified {
            transfer.phase = Phase::Finishing;
            return self.on_finished(artifact, Ok(()), effects);
        }
        if bytes_done == total_bytes {
            transfer.phase = Phase::Finishing;
            return effects.push(StagingEffect::Io(StagingIo::Finish { artifact, manifest }));
        }
        self.fetch(here, artifact, false, effects);
    }

    /// The driver verified the copy and moved it in, or discarded it.
    pub fn on_finished(
        &mut self,
        artifact: Digest,
        result: Result<(), StagingFailure>,
        effects: &mut Vec<StagingEffect>,
    ) {
        let Some(transfer) = self.waiting(artifact, Phase::Finishing) else {
            return;
        };
        match result {
            Ok(()) => {
                transfer.phase = Phase::Finished;
                let bytes_total = transfer.bytes_done;
                effects.push(StagingEffect::Event(StagingEvent::StagingFinished {
                    artifact,
                    bytes_total,
                }));
            }
            Err(StagingFailure::FileName { name }) => skip_foreign(transfer, artifact, name, effects),
            Err(failure) => self.fail(artifact, failure, effects),
        }
    }

    fn fail(&mut self, artifact: Digest, failure: StagingFailure, effects: &mut Vec<StagingEffect>) {
        let Some(transfer) = self.by_artifact.get_mut(&artifact) else {
            return;
        };
        transfer.phase = Phase::Failed;
        effects.push(StagingEffect::Io(StagingIo::Discard { artifact }));
        effects.push(StagingEffect::Event(StagingEvent::StagingFailed { artifact, failure }));
    }
}

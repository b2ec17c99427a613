//! The node's staging: its own copies (transfers), the copies it serves (sources), the
//! driver's disk answers, and progress reports through the leader.

use super::Node;
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::io::{Event, Output};
use crate::staging::{ArrivedChunk, Fetch, Here, StagingDone, StagingEffect, StagingEvent, StagingIo, StagingMessage};
use crate::state::{Origin, Residency};
use crate::time::Instant;
use crate::wire::Message;

impl Node {
    /// The driver's disk finished a [`Output::Staging`] request.
    pub fn staging_done(&mut self, now: Instant, done: StagingDone) {
        let mut effects = Vec::new();
        let (me, state) = (self.node_id, self.consensus.state());
        let here = Here { now, me, state };
        match done {
            StagingDone::Opened { artifact, result } => {
                self.transfers.on_opened(here, artifact, result, &mut effects);
            }
            StagingDone::Written { artifact, result } => {
                self.transfers.on_written(here, artifact, result, &mut effects);
            }
            StagingDone::Finished { artifact, result } => self.transfers.on_finished(artifact, result, &mut effects),
            StagingDone::Read {
                peer,
                artifact,
                offset,
                result,
            } => self.sources.on_read(peer, artifact, offset, result, &mut effects),
        }
        self.carry_out_staging(effects);
        self.finish(now);
    }

    /// Transfers and sources: the copies this node makes or serves.
    pub fn staging(&self) -> (&crate::staging::Transfers, &crate::staging::Sources) {
        (&self.transfers, &self.sources)
    }

    /// A staging message from `sender`.
    pub(super) fn on_staging(&mut self, now: Instant, sender: NodeId, message: StagingMessage) {
        let mut effects = Vec::new();
        match message {
            StagingMessage::Fetch { artifact, offset } => {
                let held_resident = self.artifacts.holds_resident(&artifact);
                let fetch = Fetch {
                    from: sender,
                    artifact,
                    offset,
                };
                self.sources
                    .on_fetch(self.consensus.state(), held_resident, fetch, &mut effects);
            }
            StagingMessage::Chunk {
                artifact,
                manifest,
                offset,
                bytes,
            } => {
                let chunk = ArrivedChunk {
                    from: sender,
                    artifact,
                    manifest,
                    offset,
                    bytes: bytes.into_vec(),
                };
                self.transfers.on_chunk(chunk, &mut effects);
            }
            StagingMessage::Missing { artifact } => self.transfers.on_missing(sender, artifact),
        }
        self.carry_out_staging(effects);
        let _ = now;
    }

    /// On each probe tick: transfers follow the applied intents, and their progress
    /// is reported.
    pub(super) fn staging_upkeep(&mut self, now: Instant) {
        let mut effects = Vec::new();
        let artifacts = &self.artifacts;
        let held_resident = |artifact: &Digest| artifacts.holds_resident(artifact);
        let here = Here {
            now,
            me: self.node_id,
            state: self.consensus.state(),
        };
        self.transfers.upkeep(here, held_resident, &mut effects);
        self.carry_out_staging(effects);
        let reports = self.transfers.reports_due(now, self.node_id, self.consensus.state());
        if !reports.is_empty() {
            let me = Origin::Member { node: self.node_id };
            let commands = reports.into_iter().map(|command| (me.clone(), command)).collect();
            self.consensus.propose_or_forward(now, commands);
        }
    }

    fn carry_out_staging(&mut self, effects: Vec<StagingEffect>) {
        let applied_index = self.consensus.state().applied_index;
        self.transfers.stamp_ended(applied_index);
        for effect in effects {
            match effect {
                StagingEffect::Io(io) => {
                    if let StagingIo::Open { artifact } = &io {
                        self.artifacts.forget_staged(artifact);
                    }
                    self.outputs.push_back(Output::Staging(io));
                }
                StagingEffect::Send { to, message } => self.send_to_peer(to, Message::Staging(message)),
                StagingEffect::Event(event) => {
                    match &event {
                        StagingEvent::StagingFinished { artifact, .. } => {
                            self.artifacts
                                .note_staged(*artifact, Residency::Resident, applied_index);
                        }
                        StagingEvent::StagingFailed { artifact, .. } => {
                            self.artifacts.note_staged(*artifact, Residency::Failed, applied_index);
                        }
                        StagingEvent::StagingFetching { .. } => {}
                    }
                    self.outputs.push_back(Output::Event(Event::Staging(event)));
                }
                StagingEffect::Refuse(refusal) => self.refuse_from(refusal),
            }
        }
    }
}

//! This node's own artifacts: what its driver found on its disk, and the residency it
//! reports for itself through the leader (`Origin::Member`, which may set only its own
//! facts). A report goes out when the applied state says otherwise than the disk, again
//! at most every [`ARTIFACT_REPORT_RETRY_MS`] while it still does; an artifact the
//! state holds resident (or failed) here but the disk no longer has is reported
//! evicted. A copy this node staged counts as held (resident, or failed) from when it
//! ended until a scan finds it (or, for a failed one, until it is staged again).

use std::collections::BTreeMap;

use crate::digest::Digest;
use crate::identity::NodeId;
use crate::state::{ClusterCommand, ClusterState, Residency};
use crate::time::{Instant, ms};

/// A report the state does not show yet is sent again after this long.
pub const ARTIFACT_REPORT_RETRY_MS: u64 = 2_000;

/// Most artifacts one node holds (reports beyond are not made).
pub const ARTIFACTS_HELD_MAX: usize = 1_024;

/// Reports one round sends at most.
pub const ARTIFACT_REPORTS_PER_ROUND_MAX: usize = 16;

/// What the disk holds, and the reports sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnArtifacts {
    /// The residency of each artifact the driver found; none before its first scan.
    held: Option<BTreeMap<Digest, Residency>>,
    /// Whether the scan found more than [`ARTIFACTS_HELD_MAX`] (those past it are not
    /// reported evicted: they may be on the disk).
    truncated: bool,
    /// The residency last reported for each artifact, and when.
    reported: BTreeMap<Digest, (Residency, Instant)>,
    /// Copies that ended here and no scan found yet: resident, or failed; with the
    /// applied index when they ended.
    staged: BTreeMap<Digest, (Residency, u64)>,
}

impl OwnArtifacts {
    /// The driver's latest scan (at most [`ARTIFACTS_HELD_MAX`] artifacts are kept,
    /// smallest digest first).
    pub fn set_held(&mut self, held: BTreeMap<Digest, Residency>) {
        self.truncated = held.len() > ARTIFACTS_HELD_MAX;
        self.staged.retain(|artifact, _| !held.contains_key(artifact));
        self.held = Some(held.into_iter().take(ARTIFACTS_HELD_MAX).collect());
    }

    /// A copy staged here ended, at `applied_index`: `Resident` (verified and moved
    /// in) or `Failed`.
    pub fn note_staged(&mut self, artifact: Digest, residency: Residency, applied_index: u64) {
        self.staged.insert(artifact, (residency, applied_index));
    }

    /// A copy of `artifact` starts again: an earlier failure no longer counts.
    pub fn forget_staged(&mut self, artifact: &Digest) {
        self.staged.remove(artifact);
    }

    /// Whether the disk holds `artifact` resident (found, or staged since).
    pub fn holds_resident(&self, artifact: &Digest) -> bool {
        let found = self.held.as_ref().and_then(|held| held.get(artifact));
        found.or_else(|| self.staged.get(artifact).map(|(residency, _)| residency)) == Some(&Residency::Resident)
    }

    /// What the scan found, and the copies staged since that it did not (none before
    /// the first scan or copy). A failed copy an operator asked for again since counts
    /// no more: its failure is not reported over the new intent.
    fn known(&mut self, me: NodeId, state: &ClusterState) -> Option<BTreeMap<Digest, Residency>> {
        self.staged.retain(|artifact, (residency, index)| {
            *residency != Residency::Failed || !state.residency_set_by_other_after(me, *artifact, *index)
        });
        if self.held.is_none() && self.staged.is_empty() {
            return None;
        }
        let mut known: BTreeMap<Digest, Residency> = self
            .staged
            .iter()
            .map(|(artifact, (residency, _))| (*artifact, *residency))
            .collect();
        known.extend(
            self.held
                .iter()
                .flatten()
                .map(|(artifact, residency)| (*artifact, *residency)),
        );
        Some(known)
    }

    /// What the driver found, once it scanned.
    pub fn held(&self) -> Option<&BTreeMap<Digest, Residency>> {
        self.held.as_ref()
    }

    /// The reports due at `now` for `me`, given the applied `state`.
    pub fn reports_due(&mut self, now: Instant, me: NodeId, state: &ClusterState) -> Vec<ClusterCommand> {
        let Some(held) = self.known(me, state) else {
            return Vec::new();
        };
        let scanned = self.held.is_some();
        if !state.members.contains_key(&me) {
            return Vec::new();
        }
        let recorded = state.residency.get(&me);
        let recorded_as = |artifact: &Digest| recorded.and_then(|by_artifact| by_artifact.get(artifact)).copied();
        let on_disk = |residency: &Residency| matches!(residency, Residency::Resident | Residency::Failed);
        let gone = recorded
            .into_iter()
            .flatten()
            .filter(|(artifact, residency)| {
                scanned && !self.truncated && on_disk(residency) && !held.contains_key(*artifact)
            })
            .map(|(artifact, _)| (*artifact, Residency::Evicted));
        let differing: Vec<(Digest, Residency)> = held
            .iter()
            .filter(|(artifact, residency)| recorded_as(artifact) != Some(**residency))
            .map(|(artifact, residency)| (*artifact, *residency))
            .chain(gone)
            .collect();
        self.reported
            .retain(|artifact, _| differing.iter().any(|(due, _)| due == artifact));
        let retry = ms(ARTIFACT_REPORT_RETRY_MS);
        let mut commands = Vec::new();
        for (artifact, residency) in differing {
            let fresh = self
                .reported
                .get(&artifact)
                .is_some_and(|(sent, at)| *sent == residency && now.saturating_since(*at) < retry);
            if fresh || commands.len() == ARTIFACT_REPORTS_PER_ROUND_MAX {
                continue;
            }
            self.reported.insert(artifact, (residency, now));
            commands.push(ClusterCommand::SetArtifactResidency {
                node: me,
                artifact,
                residency,
            });
        }
        commands
    }
}

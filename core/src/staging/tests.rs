//! Transfers against hand-built states: which intents start a copy, and when an
//! ended copy is started again.
use super::{Here, StagingEffect, StagingFailure, StagingIo, Transfers};
use crate::digest::Digest;
use crate::identity::NodeId;
use crate::state::{ClusterCommand, ClusterState, Origin, Residency, SetBy};
use crate::time::Instant;

const ME: NodeId = NodeId([4; 16]);
const ARTIFACT: Digest = Digest([7; 32]);

/// A state whose entry `index`, proposed by `origin`, set this node's residency of
/// the artifact to `residency`.
fn set(state: &mut ClusterState, residency: Residency, origin: Origin, index: u64) {
    let command = ClusterCommand::SetArtifactResidency {
        node: ME,
        artifact: ARTIFACT,
        residency,
    };
    state.set_by.insert(command.fact_key(), SetBy { origin, index });
    state.residency.entry(ME).or_default().insert(ARTIFACT, residency);
    state.applied_index = index;
}

/// Now, this node, and `state`.
fn here(state: &ClusterState) -> Here<'_> {
    Here {
        now: Instant::ZERO,
        me: ME,
        state,
    }
}

fn member() -> crate::state::Member {
    crate::state::Member {
        role: crate::identity::NodeRole::Both,
        status: crate::state::MemberStatus::Ready,
        voter: true,
        stream_addr: None,
    }
}

fn operator() -> Origin {
    Origin::operator(
        "ops",
        &ClusterCommand::SetServingPolicy {
            policy: Default::default(),
        },
    )
}

fn opens(effects: &[StagingEffect]) -> usize {
    effects
        .iter()
        .filter(|effect| matches!(effect, StagingEffect::Io(StagingIo::Open { .. })))
        .count()
}

#[test]
fn a_failed_copy_staged_again_starts_over_even_when_no_upkeep_saw_the_failure_applied() {
    let mut state = ClusterState::default();
    let mut transfers = Transfers::default();
    let mut effects = Vec::new();
    set(&mut state, Residency::STAGING_ASKED, operator(), 10);
    transfers.upkeep(here(&state), |_| false, &mut effects);
    assert_eq!(opens(&effects), 1);
    let failure = StagingFailure::NoModelsDirectory;
    transfers.on_opened(here(&state), ARTIFACT, Err(failure), &mut effects);
    transfers.stamp_ended(state.applied_index);
    // The failure is recorded, and the operator stages it again, both applied before
    // the node's next upkeep.
    set(&mut state, Residency::Failed, Origin::Member { node: ME }, 12);
    set(&mut state, Residency::STAGING_ASKED, operator(), 13);
    effects.clear();
    transfers.upkeep(here(&state), |_| false, &mut effects);
    assert_eq!(opens(&effects), 1, "a new copy starts: {effects:?}");
}

#[test]
fn a_failed_copy_is_not_started_again_by_its_own_late_progress_report() {
    let mut state = ClusterState::default();
    let mut transfers = Transfers::default();
    let mut effects = Vec::new();
    set(&mut state, Residency::STAGING_ASKED, operator(), 10);
    transfers.upkeep(here(&state), |_| false, &mut effects);
    transfers.on_opened(
        here(&state),
        ARTIFACT,
        Err(StagingFailure::NoModelsDirectory),
        &mut effects,
    );
    transfers.stamp_ended(state.applied_index);
    // A progress report sent before the failure is applied after it.
    let progress = Residency::Staging {
        bytes_done: 5,
        bytes_total: 9,
    };
    set(&mut state, progress, Origin::Member { node: ME }, 11);
    effects.clear();
    transfers.upkeep(here(&state), |_| false, &mut effects);
    assert_eq!(opens(&effects), 0, "{effects:?}");
}

#[test]
fn a_failure_is_not_reported_again_over_a_later_intent() {
    let now = Instant::ZERO;
    let mut state = ClusterState::default();
    let member = member();
    state.members.insert(ME, member);
    let mut own = crate::artifacts::OwnArtifacts::default();
    set(&mut state, Residency::STAGING_ASKED, operator(), 10);
    own.note_staged(ARTIFACT, Residency::Failed, 10);
    let reports = own.reports_due(now, ME, &state);
    assert_eq!(reports.len(), 1, "the failure is reported: {reports:?}");
    // Applied, then asked for again before any scan or upkeep.
    set(&mut state, Residency::Failed, Origin::Member { node: ME }, 11);
    set(&mut state, Residency::STAGING_ASKED, operator(), 12);
    let later = crate::time::ms(crate::artifacts::ARTIFACT_REPORT_RETRY_MS + 1);
    let reports = own.reports_due(Instant::ZERO + later, ME, &state);
    assert!(reports.is_empty(), "the new intent stands: {reports:?}");
}

#[test]
fn a_holder_whose_manifest_names_a_foreign_file_is_skipped_not_fatal() {
    let mut state = ClusterState::default();
    let holders = [NodeId([1; 16]), NodeId([2; 16])];
    for node in holders.iter().chain([&ME]) {
        let member = member();
        state.members.insert(*node, member);
    }
    for holder in holders {
        state
            .residency
            .entry(holder)
            .or_default()
            .insert(ARTIFACT, Residency::Resident);
    }
    set(&mut state, Residency::STAGING_ASKED, operator(), 10);
    let (mut transfers, mut effects) = (Transfers::default(), Vec::new());
    transfers.upkeep(here(&state), |_| false, &mut effects);
    transfers.on_opened(here(&state), ARTIFACT, Ok(0), &mut effects);
    let asked = |effects: &[StagingEffect]| {
        effects.iter().find_map(|effect| match effect {
            StagingEffect::Send {
                to,
                message: super::StagingMessage::Fetch { .. },
            } => Some(*to),
            _ => None,
        })
    };
    let first = asked(&effects).expect("a holder is asked");
    let manifest = super::Manifest {
        files: vec![super::ManifestFile {
            name: "run.sh".into(),
            bytes: 3,
        }],
    };
    let chunk = super::ArrivedChunk {
        from: first,
        artifact: ARTIFACT,
        manifest,
        offset: 0,
        bytes: b"abc".to_vec(),
    };
    transfers.on_chunk(chunk, &mut effects);
    effects.clear();
    let refused = Err(StagingFailure::FileName { name: "run.sh".into() });
    transfers.on_written(here(&state), ARTIFACT, refused, &mut effects);
    assert!(
        matches!(&effects[..], [StagingEffect::Refuse(super::StagingRefusal::ForeignFile { sender, .. })] if *sender == first),
        "{effects:?}"
    );
    effects.clear();
    transfers.upkeep(here(&state), |_| false, &mut effects);
    let next = asked(&effects).expect("the next holder is asked");
    assert_ne!(next, first);
    // A copy with nothing left to write is finished at once: a foreign file found then
    // skips that holder too.
    let empty = super::Manifest {
        files: vec![super::ManifestFile {
            name: "run.sh".into(),
            bytes: 0,
        }],
    };
    let chunk = super::ArrivedChunk {
        from: next,
        artifact: ARTIFACT,
        manifest: empty,
        offset: 0,
        bytes: Vec::new(),
    };
    effects.clear();
    transfers.on_chunk(chunk, &mut effects);
    assert!(
        matches!(&effects[..], [StagingEffect::Io(StagingIo::Finish { .. })]),
        "{effects:?}"
    );
    effects.clear();
    transfers.on_finished(
        ARTIFACT,
        Err(StagingFailure::FileName { name: "run.sh".into() }),
        &mut effects,
    );
    assert!(
        matches!(&effects[..], [StagingEffect::Refuse(super::StagingRefusal::ForeignFile { sender, .. })] if *sender == next),
        "{effects:?}"
    );
}

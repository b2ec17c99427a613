//! Staging: a node the applied state shows staging an artifact copies it from a
//! holder over the peer streams, chunk by chunk, and reports it resident only once the
//! whole copy hashes to the artifact's digest.
//!
//! proves: F7

mod harness;

use harness::{Harness, consensus_configs};
use psionic_core::staging::{STAGING_CHUNK_BYTES_MAX, StagingEvent, StagingFailure};
use psionic_core::state::Residency;
use psionic_core::{ClusterCommand, Digest, Event, RefusalKind};

/// An artifact of three files, `chunks` chunks and a bit long.
fn artifact_files(chunks: usize) -> Vec<(String, Vec<u8>)> {
    let weights: Vec<u8> = (0..chunks * STAGING_CHUNK_BYTES_MAX + 777)
        .map(|at| (at * 7 % 251) as u8)
        .collect();
    vec![
        ("config.json".into(), b"{\"layers\":2}".to_vec()),
        ("model.safetensors".into(), weights),
        ("tokenizer.json".into(), b"{}".to_vec()),
    ]
}

fn recorded(harness: &Harness, on: usize, about: usize, artifact: &Digest) -> Option<Residency> {
    let node = harness.nodes[about].node_id();
    let state = harness.nodes[on].consensus().state();
    state.residency.get(&node).and_then(|held| held.get(artifact)).copied()
}

/// A 3-voter cluster where `holders` hold an artifact resident (their scans
/// reported it) and the leader asked node `target` to stage it.
fn staging_cluster(seed: u64, holders: &[usize], chunks: usize) -> (Harness, Digest, usize) {
    let mut harness = Harness::new(consensus_configs(3, 3), seed);
    let leader = harness.await_leader(3_000);
    let mut artifact = None;
    for &holder in holders {
        artifact = Some(harness.artifact_disks[holder].put(artifact_files(chunks)));
        let (now, held) = (harness.now, harness.artifact_disks[holder].scan());
        harness.nodes[holder].hold_artifacts(now, held);
    }
    let artifact = artifact.expect("a holder");
    harness.run_until_ms(harness.now.as_millis() + 500);
    for &holder in holders {
        assert_eq!(recorded(&harness, leader, holder, &artifact), Some(Residency::Resident));
    }
    (harness, artifact, leader)
}

fn stage(harness: &mut Harness, leader: usize, target: usize, artifact: Digest) {
    let command = ClusterCommand::SetArtifactResidency {
        node: harness.nodes[target].node_id(),
        artifact,
        residency: Residency::STAGING_ASKED,
    };
    let now = harness.now;
    harness.nodes[leader].propose(now, command);
}

fn staging_events(harness: &Harness, index: usize) -> Vec<StagingEvent> {
    harness
        .events_of(index)
        .filter_map(|event| match event {
            Event::Staging(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_staged_copy_is_verified_then_reported_resident_everywhere() {
    let (mut harness, artifact, leader) = staging_cluster(3, &[0], 5);
    let total = harness.artifact_disks[0].scan().len();
    assert_eq!(total, 1);
    stage(&mut harness, leader, 2, artifact);
    // Progress shows while the copy runs: its writes stall after three chunks.
    harness.staging_writes_left[2] = Some(3);
    harness.run_until_ms(harness.now.as_millis() + 2_500);
    let bytes_total = (5 * STAGING_CHUNK_BYTES_MAX + 777 + 12 + 2) as u64;
    let three_chunks = (3 * STAGING_CHUNK_BYTES_MAX) as u64;
    assert_eq!(
        recorded(&harness, leader, 2, &artifact),
        Some(Residency::Staging {
            bytes_done: three_chunks,
            bytes_total
        }),
        "the copy's progress is reported through the leader"
    );
    harness.release_staging(2);
    harness.run_until_ms(harness.now.as_millis() + 1_500);
    for on in 0..3 {
        assert_eq!(
            recorded(&harness, on, 2, &artifact),
            Some(Residency::Resident),
            "on node {on}"
        );
    }
    assert!(harness.artifact_disks[2].scan().contains_key(&artifact));
    assert_eq!(harness.artifact_disks[2].partial_bytes(&artifact), None);
    let events = staging_events(&harness, 2);
    assert!(events.contains(&StagingEvent::StagingFinished { artifact, bytes_total }));
}

#[test]
fn a_damaged_copy_ends_failed_and_is_never_reported_resident() {
    let (mut harness, artifact, leader) = staging_cluster(5, &[0], 4);
    stage(&mut harness, leader, 1, artifact);
    harness.staging_writes_left[1] = Some(2);
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert!(
        harness.artifact_disks[1].damage_partial(&artifact, 1_000),
        "two chunks were written"
    );
    harness.release_staging(1);
    for _ in 0..10 {
        harness.run_until_ms(harness.now.as_millis() + 300);
        assert_ne!(recorded(&harness, leader, 1, &artifact), Some(Residency::Resident));
    }
    assert_eq!(recorded(&harness, leader, 1, &artifact), Some(Residency::Failed));
    assert!(!harness.artifact_disks[1].scan().contains_key(&artifact));
    assert_eq!(
        harness.artifact_disks[1].partial_bytes(&artifact),
        None,
        "its bytes were discarded"
    );
    let failed = staging_events(&harness, 1).into_iter().any(|event| {
        matches!(event, StagingEvent::StagingFailed { failure: StagingFailure::DigestMismatch { expected, .. }, .. } if expected == artifact)
    });
    assert!(failed);
    // Staged again, the copy starts over and succeeds.
    stage(&mut harness, leader, 1, artifact);
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    assert_eq!(recorded(&harness, leader, 1, &artifact), Some(Residency::Resident));
}

#[test]
fn a_copy_resumes_where_it_stopped_after_its_node_restarts() {
    let (mut harness, artifact, leader) = staging_cluster(7, &[0], 6);
    let target = if leader == 2 { 1 } else { 2 };
    stage(&mut harness, leader, target, artifact);
    harness.staging_writes_left[target] = Some(4);
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    let kept = harness.artifact_disks[target].partial_bytes(&artifact);
    assert_eq!(kept, Some((4 * STAGING_CHUNK_BYTES_MAX) as u64));
    harness.crash(target);
    harness.staging_stalled.clear();
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    harness.reboot(target);
    harness.staging_writes_left[target] = None;
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    assert_eq!(recorded(&harness, leader, target, &artifact), Some(Residency::Resident));
    let offsets: Vec<u64> = staging_events(&harness, target)
        .into_iter()
        .filter_map(|event| match event {
            StagingEvent::StagingFetching { offset, .. } => Some(offset),
            _ => None,
        })
        .collect();
    assert_eq!(offsets.first(), Some(&0));
    assert_eq!(
        offsets.last(),
        kept.as_ref(),
        "after the restart it asked from where it stopped"
    );
}

#[test]
fn a_copy_moves_to_another_holder_when_its_source_dies() {
    let (mut harness, artifact, leader) = staging_cluster(11, &[0, 1], 6);
    let target = 2;
    stage(&mut harness, leader, target, artifact);
    harness.staging_writes_left[target] = Some(2);
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    let first = staging_events(&harness, target)
        .into_iter()
        .find_map(|event| match event {
            StagingEvent::StagingFetching { source, .. } => Some(source),
            _ => None,
        });
    let first = (0..3)
        .find(|index| Some(harness.nodes[*index].node_id()) == first)
        .expect("a source was asked");
    harness.crash(first);
    harness.release_staging(target);
    harness.run_until_ms(harness.now.as_millis() + 8_000);
    let other = 1 - first;
    assert_eq!(recorded(&harness, other, target, &artifact), Some(Residency::Resident));
}

#[test]
fn a_fetch_from_a_node_the_state_does_not_show_staging_is_refused() {
    let (mut harness, artifact, _) = staging_cluster(13, &[0], 1);
    // Node 1 asks node 0 for the artifact without any intent recorded.
    let message =
        psionic_core::wire::Message::Staging(psionic_core::staging::StagingMessage::Fetch { artifact, offset: 0 });
    let identity = harness.configs[1].identity.clone();
    let bytes = harness::sealed_for(&identity, 0, psionic_core::TransportClass::Stream, 1 << 40, message);
    let from = harness::addr(1);
    harness.nodes[0].handle(harness.now, psionic_core::Input::Stream { from, bytes });
    assert_eq!(harness.nodes[0].refusals().get(RefusalKind::Staging), 1);
    assert_eq!(harness.nodes[0].staging().1.reading(), 0, "nothing was read for it");
}

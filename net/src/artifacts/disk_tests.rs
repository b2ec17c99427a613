//! The models directory as staging's disk: a copy written chunk by chunk through one
//! disk is read back through another, resumes after a restart, and is moved in only
//! when it hashes to the digest.

use std::sync::Arc;

use psionic_core::staging::{STAGING_CHUNK_BYTES_MAX, StagingDone, StagingFailure, StagingIo, StagingStore};
use psionic_core::{Digest, NodeId};
use psionic_model::make_test::{test_config, write};

use super::{Models, ModelsDisk, STAGING_DIR, Scanner, artifact_digest};

fn scanned(dir: &std::path::Path) -> Arc<Models> {
    let models = Arc::new(Models::default());
    let mut scanner = Scanner::new(dir.to_path_buf());
    let found = scanner.scan();
    models.replace(found, scanner.take_loaded());
    models
}

/// Reads chunk `offset` from `source` for `target`, writes it there, answering the
/// contiguous bytes the copy holds.
fn copy_chunk(
    source: &mut ModelsDisk,
    target: &mut ModelsDisk,
    artifact: Digest,
    offset: u64,
) -> Result<u64, StagingFailure> {
    let read = StagingIo::Read {
        peer: NodeId([2; 16]),
        artifact,
        offset,
        len: STAGING_CHUNK_BYTES_MAX as u32,
    };
    let Some(StagingDone::Read { result, .. }) = source.carry_out(read) else {
        panic!("a read answers")
    };
    let (manifest, bytes) = result?;
    let write = StagingIo::Write {
        artifact,
        manifest,
        offset,
        bytes,
    };
    let Some(StagingDone::Written { result, .. }) = target.carry_out(write) else {
        panic!("a write answers")
    };
    result
}

fn finish(target: &mut ModelsDisk, artifact: Digest, source: &mut ModelsDisk) -> Result<(), StagingFailure> {
    let Some(StagingDone::Read { result, .. }) = source.carry_out(StagingIo::Read {
        peer: NodeId([2; 16]),
        artifact,
        offset: 0,
        len: 1,
    }) else {
        panic!("a read answers")
    };
    let (manifest, _) = result?;
    let Some(StagingDone::Finished { result, .. }) = target.carry_out(StagingIo::Finish { artifact, manifest }) else {
        panic!("a finish answers")
    };
    result
}

fn opened(target: &mut ModelsDisk, artifact: Digest) -> u64 {
    let Some(StagingDone::Opened { result, .. }) = target.carry_out(StagingIo::Open { artifact }) else {
        panic!("an open answers")
    };
    result.expect("opens")
}

#[test]
fn a_copy_resumes_after_a_restart_and_is_moved_in_only_once_whole_and_verified() {
    let source_dir = tempfile::tempdir().unwrap();
    write(&source_dir.path().join("test"), &test_config(), 4).unwrap();
    let (artifact, total) = artifact_digest(&source_dir.path().join("test")).unwrap();
    let mut source = ModelsDisk::new(source_dir.path().to_path_buf(), scanned(source_dir.path()));
    let target_dir = tempfile::tempdir().unwrap();
    let mut target = ModelsDisk::new(target_dir.path().to_path_buf(), scanned(target_dir.path()));
    assert_eq!(opened(&mut target, artifact), 0);
    let mut done = 0;
    for _ in 0..3 {
        done = copy_chunk(&mut source, &mut target, artifact, done).unwrap();
    }
    assert_eq!(done, 3 * STAGING_CHUNK_BYTES_MAX as u64);
    // The node restarts: a new disk over the same directory keeps the three chunks.
    let mut target = ModelsDisk::new(target_dir.path().to_path_buf(), scanned(target_dir.path()));
    assert_eq!(opened(&mut target, artifact), done);
    assert!(
        scanned(target_dir.path()).found().is_empty(),
        "a partial copy is not an artifact"
    );
    while done < total {
        done = copy_chunk(&mut source, &mut target, artifact, done).unwrap();
    }
    finish(&mut target, artifact, &mut source).unwrap();
    let found = scanned(target_dir.path()).found();
    let staged = &found[&artifact];
    assert_eq!(staged.residency, psionic_core::state::Residency::Resident);
    assert!(staged.name.starts_with("staged-"), "{}", staged.name);
    assert!(!target_dir.path().join(STAGING_DIR).join(artifact.to_hex()).exists());
}

#[test]
fn a_copy_that_does_not_hash_to_the_digest_is_discarded() {
    let source_dir = tempfile::tempdir().unwrap();
    write(&source_dir.path().join("test"), &test_config(), 5).unwrap();
    let (artifact, total) = artifact_digest(&source_dir.path().join("test")).unwrap();
    let mut source = ModelsDisk::new(source_dir.path().to_path_buf(), scanned(source_dir.path()));
    let target_dir = tempfile::tempdir().unwrap();
    let mut target = ModelsDisk::new(target_dir.path().to_path_buf(), Arc::new(Models::default()));
    let mut done = 0;
    while done < total {
        done = copy_chunk(&mut source, &mut target, artifact, done).unwrap();
    }
    let weights = target_dir
        .path()
        .join(STAGING_DIR)
        .join(artifact.to_hex())
        .join(psionic_model::WEIGHTS_FILE);
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[4_000] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let failure = finish(&mut target, artifact, &mut source).unwrap_err();
    assert!(
        matches!(failure, StagingFailure::DigestMismatch { expected, .. } if expected == artifact),
        "{failure:?}"
    );
    assert!(!target_dir.path().join(STAGING_DIR).join(artifact.to_hex()).exists());
    assert!(scanned(target_dir.path()).found().is_empty());
}

#[test]
fn a_manifest_naming_another_file_is_refused_and_a_read_of_an_unheld_artifact_fails() {
    let target_dir = tempfile::tempdir().unwrap();
    let mut target = ModelsDisk::new(target_dir.path().to_path_buf(), Arc::new(Models::default()));
    let artifact = Digest([9; 32]);
    let manifest = psionic_core::staging::Manifest {
        files: vec![psionic_core::staging::ManifestFile {
            name: "run.sh".into(),
            bytes: 3,
        }],
    };
    let write = StagingIo::Write {
        artifact,
        manifest,
        offset: 0,
        bytes: b"abc".to_vec(),
    };
    let Some(StagingDone::Written { result, .. }) = target.carry_out(write) else {
        panic!()
    };
    assert_eq!(result, Err(StagingFailure::FileName { name: "run.sh".into() }));
    let read = StagingIo::Read {
        peer: NodeId([2; 16]),
        artifact,
        offset: 0,
        len: 10,
    };
    let Some(StagingDone::Read { result, .. }) = target.carry_out(read) else {
        panic!()
    };
    assert_eq!(result, Err(StagingFailure::NotHeld { artifact }));
}

/// Copies every chunk of `artifact` from `source` to `target` and finishes the copy.
fn copy_whole(
    source: &mut ModelsDisk,
    target: &mut ModelsDisk,
    artifact: Digest,
    total: u64,
) -> Result<(), StagingFailure> {
    assert_eq!(opened(target, artifact), 0);
    let mut done = 0;
    while done < total {
        done = copy_chunk(source, target, artifact, done)?;
    }
    finish(target, artifact, source)
}

#[test]
fn an_empty_file_is_copied_and_a_copy_already_there_is_kept() {
    let source_dir = tempfile::tempdir().unwrap();
    let model = source_dir.path().join("test");
    write(&model, &test_config(), 6).unwrap();
    std::fs::write(model.join(psionic_model::TOKENIZER_FILE), b"").unwrap();
    let (artifact, total) = artifact_digest(&model).unwrap();
    let mut source = ModelsDisk::new(source_dir.path().to_path_buf(), scanned(source_dir.path()));
    let target_dir = tempfile::tempdir().unwrap();
    let mut target = ModelsDisk::new(target_dir.path().to_path_buf(), scanned(target_dir.path()));
    copy_whole(&mut source, &mut target, artifact, total).unwrap();
    // Copied again (as after a restart before a scan found the first copy): the copy
    // there already stands.
    copy_whole(&mut source, &mut target, artifact, total).unwrap();
    let found = scanned(target_dir.path()).found();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[&artifact].also_named.is_empty());
}

#[test]
fn a_chunk_past_the_contiguous_bytes_leaves_no_hole() {
    let source_dir = tempfile::tempdir().unwrap();
    write(&source_dir.path().join("test"), &test_config(), 4).unwrap();
    let (artifact, _) = artifact_digest(&source_dir.path().join("test")).unwrap();
    let mut source = ModelsDisk::new(source_dir.path().to_path_buf(), scanned(source_dir.path()));
    let target_dir = tempfile::tempdir().unwrap();
    let mut target = ModelsDisk::new(target_dir.path().to_path_buf(), scanned(target_dir.path()));
    let chunk = STAGING_CHUNK_BYTES_MAX as u64;
    assert_eq!(
        copy_chunk(&mut source, &mut target, artifact, 2 * chunk).unwrap(),
        0,
        "nothing written at a gap"
    );
    assert_eq!(copy_chunk(&mut source, &mut target, artifact, 0).unwrap(), chunk);
    assert_eq!(
        copy_chunk(&mut source, &mut target, artifact, 3 * chunk).unwrap(),
        chunk
    );
    assert_eq!(opened(&mut target, artifact), chunk);
}

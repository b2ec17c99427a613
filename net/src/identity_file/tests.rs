use std::os::unix::fs::PermissionsExt as _;

use super::*;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn epoch_advances_and_persists_on_every_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = IdentityFile::in_dir(dir.path());
    let created = block_on(file.create([5; 32])).unwrap();
    let first = block_on(file.load_and_advance(NodeEpoch(0))).unwrap();
    let second = block_on(file.load_and_advance(NodeEpoch(0))).unwrap();
    assert_eq!(created.node_id(), second.node_id);
    assert_eq!((first.epoch, second.epoch), (NodeEpoch(1), NodeEpoch(2)));
    assert_eq!(block_on(file.load()).unwrap().epoch(), NodeEpoch(2));
    let mode = std::fs::metadata(file.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn init_refuses_to_replace_an_identity() {
    let dir = tempfile::tempdir().unwrap();
    let file = IdentityFile::in_dir(dir.path());
    block_on(file.create([5; 32])).unwrap();
    assert!(matches!(
        block_on(file.create([6; 32])),
        Err(IdentityError::AlreadyExists { .. })
    ));
}

#[test]
fn corrupt_and_truncated_files_are_errors_that_name_the_file_and_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = IdentityFile::in_dir(dir.path());
    block_on(file.create([5; 32])).unwrap();
    let mut bytes = std::fs::read(file.path()).unwrap();
    bytes[40] ^= 1;
    std::fs::write(file.path(), &bytes).unwrap();
    let error = block_on(file.load_and_advance(NodeEpoch(0))).unwrap_err();
    assert!(matches!(error, IdentityError::ChecksumMismatch { .. }));
    assert!(error.to_string().contains(&file.path().display().to_string()));
    assert_eq!(
        std::fs::read(file.path()).unwrap(),
        bytes,
        "a corrupt file is never rewritten"
    );
    std::fs::write(file.path(), &bytes[..30]).unwrap();
    let error = block_on(file.load()).unwrap_err();
    assert!(matches!(error, IdentityError::WrongLength { len: 30, .. }));
    assert!(matches!(
        block_on(IdentityFile::in_dir(&dir.path().join("none")).load()),
        Err(IdentityError::Missing { .. })
    ));
}

/// A rotation keeps the node id: the staged key is kept durably first, then becomes
/// the one it speaks with, and the old secret is gone from the file.
#[test]
fn a_staged_key_is_kept_then_promoted_under_the_same_node_id() {
    let dir = tempfile::tempdir().unwrap();
    let file = IdentityFile::in_dir(dir.path());
    let first = block_on(file.create([5; 32])).unwrap();
    block_on(file.stage([6; 32])).unwrap();
    let staged = block_on(file.load_and_advance(NodeEpoch(0))).unwrap();
    assert_eq!((staged.secret_key, staged.staged_key), ([5; 32], Some([6; 32])));
    let other = PublicKey(NodeIdentity::new([7; 32], NodeEpoch(0)).public_key().to_bytes());
    assert!(
        !block_on(file.promote(other)).unwrap(),
        "only the staged key is promoted"
    );
    let next = PublicKey(NodeIdentity::new([6; 32], NodeEpoch(0)).public_key().to_bytes());
    assert!(block_on(file.promote(next)).unwrap());
    let loaded = block_on(file.load()).unwrap();
    assert_eq!(loaded.node_id(), first.node_id());
    assert_eq!(loaded.public_key().to_bytes(), next.0);
    assert_eq!(block_on(file.load_stored()).unwrap().staged_key, None);
    assert!(
        !std::fs::read(file.path())
            .unwrap()
            .windows(32)
            .any(|window| window == [5; 32])
    );
}

/// A file of format 1 (no node id, no staged key) is read, and written back as format 2.
#[test]
fn a_format_1_file_is_read_and_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let file = IdentityFile::in_dir(dir.path());
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&[5; 32]);
    bytes.extend_from_slice(&9u64.to_le_bytes());
    let checksum = Sha256::digest(&bytes);
    bytes.extend_from_slice(&checksum);
    std::fs::write(file.path(), &bytes).unwrap();
    let stored = block_on(file.load_and_advance(NodeEpoch(0))).unwrap();
    assert_eq!(stored.node_id, NodeIdentity::new([5; 32], NodeEpoch(0)).node_id());
    assert_eq!(stored.epoch, NodeEpoch(10));
    assert_eq!(std::fs::read(file.path()).unwrap().len(), FILE_LEN);
}

/// Two rotations asked at once stage one key: both answer it.
#[test]
fn concurrent_staging_stages_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = IdentityFile::in_dir(dir.path());
    block_on(file.create([5; 32])).unwrap();
    let other = file.clone();
    let (first, second) = block_on(async { tokio::join!(file.staged_or_new(), other.staged_or_new()) });
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first, second);
    assert_eq!(block_on(file.load_stored()).unwrap().staged_key, Some(first));
}

//! Damaged data directories, as an operator meets them: a follower whose newest log
//! record was cut short catches up; a length field damaged in the middle of a segment
//! stops the node with exit 4 naming the file and offset, changing nothing on disk.
//!
//! proves: F4, D2
#![cfg(not(madsim))]

use std::path::{Path, PathBuf};

use psionic_tests::NodeProcess;
use psionic_tests::cluster::Cluster;

/// The newest log segment in `data_dir`.
fn newest_segment(data_dir: &Path) -> PathBuf {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(data_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("log-") && name != "log-manifest"
        })
        .collect();
    segments.sort();
    segments.pop().expect("a log segment")
}

#[test]
fn a_follower_whose_newest_record_was_cut_short_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    for n in 0..20 {
        cluster.commit(leader, n);
    }
    let follower = (leader + 1) % 3;
    cluster.stop(follower);
    let segment = newest_segment(&cluster.data_dir(follower));
    let bytes = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, &bytes[..bytes.len() - 5]).unwrap();
    cluster.start(follower);
    let mut last = 0;
    for n in 20..25 {
        last = cluster.commit(leader, n);
    }
    cluster.await_converged(last);
    cluster.assert_history_linearizable();
}

#[test]
fn a_length_field_damaged_mid_segment_stops_the_node_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    for n in 0..80 {
        cluster.commit(leader, n);
    }
    let follower = (leader + 1) % 3;
    cluster.stop(follower);
    let segment = newest_segment(&cluster.data_dir(follower));
    let mut bytes = std::fs::read(&segment).unwrap();
    let offset = record_offsets(&bytes)[10];
    // The length now reaches 64 KiB further, past the end of the file.
    bytes[offset + 2] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();
    let config = cluster.config_seeded_with_running(follower);
    let error = NodeProcess::start(&config).expect_err("the node refuses to start");
    assert!(error.contains("exit status: 4"), "{error}");
    let named = format!("{}: corrupt record at byte offset {offset}", segment.display());
    assert!(error.contains(&named), "{error}");
    assert_eq!(std::fs::read(&segment).unwrap(), bytes, "the segment is left as it was");
    cluster.assert_history_linearizable();
}

/// Where each record of a segment starts (`len u32 LE | checksum 8 | payload`).
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut offset = 0;
    while offset + 12 <= bytes.len() {
        offsets.push(offset);
        let len = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        offset += 12 + len;
    }
    offsets
}

#[test]
fn a_node_restored_from_its_backup_catches_up_and_leaves_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    for n in 0..10 {
        cluster.commit(leader, n);
    }
    let follower = (leader + 1) % 3;
    let epoch_at_backup = cluster.node(follower).listening.epoch;
    cluster.stop(follower);
    let data_dir = cluster.data_dir(follower);
    let backup = dir.path().join("backup");
    let cli = |args: &[&Path]| {
        let args: Vec<&str> = args.iter().map(|arg| arg.to_str().unwrap()).collect();
        psionic_tests::node_cli(&args)
    };
    let (code, stdout, stderr) = cli(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        &data_dir,
        "--to".as_ref(),
        &backup,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    cluster.start(follower);
    for n in 10..20 {
        cluster.commit(leader, n);
    }
    cluster.stop(follower);
    let (code, stdout, stderr) = cli(&[
        "restore".as_ref(),
        "--from".as_ref(),
        &backup,
        "--data-dir".as_ref(),
        &data_dir,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(data_dir.join("restored").exists(), "the restore marks the directory");
    cluster.start(follower);
    assert!(cluster.node(follower).listening.epoch > epoch_at_backup + 1);
    let mut last = 0;
    for n in 20..25 {
        last = cluster.commit(leader, n);
    }
    cluster.await_converged(last);
    psionic_tests::wait_until(psionic_tests::cluster::CONVERGE, "the restored mark to go", || {
        !data_dir.join("restored").exists()
    });
    cluster.assert_history_linearizable();
}

//! The store on a real disk: recovery, torn tails, corruption.

use psionic_core::consensus::{Entry, EntryPayload, StoredSnapshot};
use psionic_core::{ClusterState, HardState, NodeId};

use super::*;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        payload: EntryPayload::Noop {
            leader: NodeId([1; 16]),
        }
        .into(),
    }
}

#[test]
fn what_was_saved_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, durable) = block_on(DurableStore::open(dir.path())).unwrap();
    assert_eq!(durable, Durable::default());
    let hard_state = HardState {
        term: 3,
        voted_for: Some(NodeId([2; 16])),
    };
    block_on(store.save_hard_state(hard_state)).unwrap();
    block_on(store.save_entries(1, &[entry(1, 1), entry(2, 1), entry(3, 2)])).unwrap();
    block_on(store.save_entries(3, &[entry(3, 3), entry(4, 3)])).unwrap();
    drop(store);
    let (_, durable) = block_on(DurableStore::open(dir.path())).unwrap();
    assert_eq!(durable.hard_state, hard_state);
    assert_eq!(
        durable.entries,
        vec![entry(1, 1), entry(2, 1), entry(3, 3), entry(4, 3)]
    );
}

#[test]
fn a_snapshot_compacts_the_log_and_is_recovered_with_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = block_on(DurableStore::open(dir.path())).unwrap();
    block_on(store.save_entries(1, &[entry(1, 1), entry(2, 1), entry(3, 1)])).unwrap();
    let mut state = ClusterState::default();
    state.apply(1, 1, &entry(1, 1).payload).unwrap();
    state.apply(2, 1, &entry(2, 1).payload).unwrap();
    let snapshot = StoredSnapshot::of(&state);
    block_on(store.save_snapshot(&snapshot)).unwrap();
    block_on(store.save_entries(4, &[entry(4, 2)])).unwrap();
    drop(store);
    let (_, durable) = block_on(DurableStore::open(dir.path())).unwrap();
    assert_eq!(durable.snapshot, Some(snapshot));
    assert_eq!(durable.entries, vec![entry(3, 1), entry(4, 2)]);
}

#[test]
fn a_torn_tail_is_dropped_and_a_corrupt_middle_record_names_the_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = block_on(DurableStore::open(dir.path())).unwrap();
    block_on(store.save_entries(1, &[entry(1, 1), entry(2, 1), entry(3, 1)])).unwrap();
    drop(store);
    let log = dir.path().join("log-00000000");
    let bytes = std::fs::read(&log).unwrap();
    std::fs::write(&log, &bytes[..bytes.len() - 3]).unwrap();
    let (_, durable) = block_on(DurableStore::open(dir.path())).unwrap();
    assert_eq!(durable.entries, vec![entry(1, 1), entry(2, 1)]);

    let mut bytes = std::fs::read(&log).unwrap();
    bytes[14] ^= 0xff;
    std::fs::write(&log, &bytes).unwrap();
    let error = block_on(DurableStore::open(dir.path())).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { offset: 0, .. }), "{error}");
    assert!(error.to_string().contains("log") && error.to_string().contains("offset 0"));
    assert_eq!(std::fs::read(&log).unwrap(), bytes, "a corrupt log is left as it was");
}

#[test]
fn a_corrupt_length_field_in_the_middle_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = block_on(DurableStore::open(dir.path())).unwrap();
    let entries: Vec<Entry> = (1..=100).map(|index| entry(index, 1)).collect();
    block_on(store.save_entries(1, &entries)).unwrap();
    drop(store);
    let log = dir.path().join("log-00000000");
    let mut bytes = std::fs::read(&log).unwrap();
    let record_len = bytes.len() / 100;
    let thirtieth = 29 * record_len;
    bytes[thirtieth + 2] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();
    let error = block_on(DurableStore::open(dir.path())).unwrap_err();
    assert!(
        matches!(error, StoreError::Corrupt { offset, .. } if offset == thirtieth as u64),
        "{error}"
    );
    assert_eq!(std::fs::read(&log).unwrap(), bytes, "nothing is truncated or rewritten");
}

#[test]
fn segments_roll_over_truncate_across_and_compact_away() {
    let dir = tempfile::tempdir().unwrap();
    let open = || block_on(DurableStore::open_with_segment_bytes(dir.path(), 100));
    let (mut store, _) = open().unwrap();
    let entries: Vec<Entry> = (1..=20).map(|index| entry(index, 1)).collect();
    for chunk in entries.chunks(2) {
        block_on(store.save_entries(chunk[0].index, chunk)).unwrap();
    }
    let segments = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|file| {
                let name = file.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("log-0")
            })
            .count()
    };
    assert!(segments() > 3, "the log rolled over into several segments");
    drop(store);
    let (mut store, durable) = open().unwrap();
    assert_eq!(durable.entries, entries);
    // A conflict far back truncates across segments.
    block_on(store.save_entries(5, &[entry(5, 2)])).unwrap();
    drop(store);
    let (mut store, durable) = open().unwrap();
    assert_eq!(durable.entries.len(), 5);
    assert_eq!(durable.entries[4], entry(5, 2));
    // More entries, then a snapshot: whole segments below it go away.
    let more: Vec<Entry> = (6..=20).map(|index| entry(index, 2)).collect();
    for chunk in more.chunks(2) {
        block_on(store.save_entries(chunk[0].index, chunk)).unwrap();
    }
    let before = segments();
    let mut state = ClusterState::default();
    for item in durable.entries.iter().chain(&more).take(15) {
        state.apply(item.index, item.term, &item.payload).unwrap();
    }
    block_on(store.save_snapshot(&StoredSnapshot::of(&state))).unwrap();
    assert!(segments() < before, "segments below the snapshot were removed");
    drop(store);
    let (_, durable) = open().unwrap();
    assert_eq!(durable.entries.first().map(|entry| entry.index), Some(16));
    assert_eq!(durable.entries.last().map(|entry| entry.index), Some(20));
}

#[test]
fn a_tail_that_contradicts_a_snapshot_written_before_a_crash_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = block_on(DurableStore::open(dir.path())).unwrap();
    block_on(store.save_entries(1, &[entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)])).unwrap();
    drop(store);
    // A snapshot of another history at index 2 (term 3) was written; the crash came
    // before the log behind it was compacted.
    let mut state = ClusterState::default();
    state.apply(1, 3, &entry(1, 3).payload).unwrap();
    state.apply(2, 3, &entry(2, 3).payload).unwrap();
    let snapshot = StoredSnapshot::of(&state);
    let record = SnapshotRecord {
        meta: snapshot.meta,
        bytes: snapshot.bytes.clone(),
    };
    block_on(write_single(&dir.path().join("snapshot"), &record)).unwrap();
    let (mut store, durable) = block_on(DurableStore::open(dir.path())).unwrap();
    assert_eq!(durable.entries, Vec::<Entry>::new(), "the old history's tail is gone");
    block_on(store.save_entries(3, &[entry(3, 3)])).unwrap();
    drop(store);
    let (_, durable) = block_on(DurableStore::open(dir.path())).unwrap();
    assert_eq!(durable.entries, vec![entry(3, 3)], "and stays gone");
}

#[test]
fn a_directory_that_has_run_must_hold_its_term_and_log_and_a_fresh_one_may_not_yet() {
    let dir = tempfile::tempdir().unwrap();
    let identity = crate::IdentityFile::in_dir(dir.path());
    block_on(identity.create([7; 32])).unwrap();
    // A crash during the very first start, between its first two writes: no node has
    // spoken from here yet, so what is missing is written.
    block_on(write_single(&dir.path().join("hard-state"), &HardState::default())).unwrap();
    let (store, _) = block_on(DurableStore::open(dir.path())).unwrap();
    drop(store);
    block_on(identity.load_and_advance(psionic_core::NodeEpoch(0))).unwrap();
    for lost in ["hard-state", "log-manifest"] {
        let path = dir.path().join(lost);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let error = block_on(DurableStore::open(dir.path())).unwrap_err();
        assert!(
            matches!(&error, StoreError::Missing { path: missing } if *missing == path),
            "{error}"
        );
        std::fs::write(&path, bytes).unwrap();
    }
    std::fs::remove_file(dir.path().join("hard-state")).unwrap();
    std::fs::remove_file(dir.path().join("log-manifest")).unwrap();
    let error = block_on(DurableStore::open(dir.path())).unwrap_err();
    assert!(
        matches!(error, StoreError::Missing { .. }),
        "both gone is not a fresh directory"
    );
}

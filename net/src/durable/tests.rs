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
        },
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
    let log = dir.path().join("log");
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

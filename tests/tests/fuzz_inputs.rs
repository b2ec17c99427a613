//! Every committed seed and every crash the fuzzers found, replayed through the core's
//! fuzz harnesses under `cargo test`.
//!
//! proves: D3

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir.join(kind).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable directory").path();
            let bytes = std::fs::read(&path).expect("readable input");
            inputs.push((path, bytes));
        }
    }
    inputs.sort();
    inputs
}

fn replay<T>(target: &str, harness: fn(&[u8]) -> T) {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "no committed inputs for {target}");
    for (path, bytes) in inputs {
        let outcome = std::panic::catch_unwind(|| harness(&bytes));
        assert!(outcome.is_ok(), "{target} fails on {}", path.display());
    }
}

#[test]
fn decode_envelope_inputs_replay() {
    replay("decode_envelope", psionic_core::fuzz::decode_envelope);
}

#[test]
fn verify_envelope_inputs_replay() {
    replay("verify_envelope", psionic_core::fuzz::verify_envelope);
}

#[test]
fn core_sequence_inputs_replay() {
    replay("core_sequence", psionic_core::fuzz::core_sequence);
}

#[test]
fn dispatch_sequence_inputs_replay() {
    replay("dispatch_sequence", psionic_core::fuzz::dispatch_sequence);
}

#[test]
fn snapshot_chunks_inputs_replay() {
    replay("snapshot_chunks", psionic_core::fuzz::snapshot_chunks);
}

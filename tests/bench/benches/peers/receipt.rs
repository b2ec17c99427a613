//! Per-iteration times recorded while criterion measures, and the receipts made of
//! them: one JSON file per row, with the ratio against the peer or limit measured in
//! the same run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use criterion::Bencher;
use psionic_core::receipt::{BenchmarkReceipt, Measured, Target, Unit};
use psionic_net::receipt::{RECEIPTS_DIR_ENV, RunFacts};

static SAMPLES_NS: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());

/// Measures `routine` under criterion and records its time per iteration as `key`.
pub fn timed(bencher: &mut Bencher<'_>, key: &str, mut routine: impl FnMut()) {
    bencher.iter_custom(|iterations| {
        let start = Instant::now();
        for _ in 0..iterations {
            routine();
        }
        let elapsed = start.elapsed();
        let per_iteration_ns = elapsed.as_nanos() as f64 / iterations.max(1) as f64;
        SAMPLES_NS
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_default()
            .push(per_iteration_ns);
        elapsed
    });
}

/// Median time per iteration recorded under `key`, in nanoseconds.
pub fn median_ns(key: &str) -> Option<f64> {
    let samples = SAMPLES_NS.lock().unwrap();
    let mut values = samples.get(key)?.clone();
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// One benchmark row, before it becomes a receipt.
#[derive(Debug)]
pub struct Row {
    pub id: String,
    pub ours: String,
    pub ours_ns: f64,
    pub peer: String,
    pub peer_ns: f64,
    /// What the ratio means (e.g. `ours throughput / raft-rs throughput`).
    pub ratio_means: &'static str,
    pub ratio: f64,
    pub goal: Target,
}

impl Row {
    fn receipt(&self, facts: &RunFacts) -> BenchmarkReceipt {
        let measured = |what: &str, ns| Measured {
            what: what.to_owned(),
            value: ns,
            unit: Unit::NanosPerIteration,
        };
        BenchmarkReceipt::new(
            self.id.clone(),
            (measured(&self.ours, self.ours_ns), measured(&self.peer, self.peer_ns)),
            (self.ratio, self.ratio_means),
            self.goal,
            facts.as_pair(),
        )
    }
}

/// Writes one receipt per measured row under `PSIONIC_RECEIPTS_DIR` (default
/// `target/receipts`) and prints the table.
pub fn write(rows: &[Row]) {
    let dir = std::env::var_os(RECEIPTS_DIR_ENV).map_or_else(|| workspace_target().join("receipts"), PathBuf::from);
    let facts = RunFacts::detect();
    println!(
        "\n{:<22} {:>14} {:>14} {:>8} {:>8}  result",
        "row", "ours ns", "peer ns", "ratio", "target"
    );
    for row in rows {
        if row.ours_ns.is_nan() || row.peer_ns.is_nan() {
            println!("{:<22} not measured in this run (filtered out)", row.id);
            continue;
        }
        let receipt = row.receipt(&facts);
        if let Err(error) = psionic_net::receipt::write(&dir, &receipt) {
            panic!("cannot write the receipt of {} to {}: {error}", row.id, dir.display());
        }
        let (target, result) = match (receipt.target, receipt.pass) {
            (Target::AtLeast(bound), Some(pass)) => (format!(">= {bound}"), if pass { "pass" } else { "MISS" }),
            (Target::AtMost(bound), Some(pass)) => (format!("<= {bound}"), if pass { "pass" } else { "MISS" }),
            _ => ("none".to_owned(), "recorded"),
        };
        println!(
            "{:<22} {:>14.0} {:>14.0} {:>8.3} {:>8}  {result}",
            row.id, row.ours_ns, row.peer_ns, row.ratio, target
        );
    }
    println!("receipts in {}", dir.display());
}

fn workspace_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    )
}

//! Per-iteration times recorded while criterion measures, and the receipts made of
//! them: one JSON file per row, with the ratio against the peer or limit measured in
//! the same run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::Bencher;
use psionic_core::receipt::{BenchmarkReceipt, Measured, Target, Unit};
use psionic_net::receipt::{RECEIPTS_DIR_ENV, RunFacts};

static SAMPLES_NS: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());
static PAIRED_NS: Mutex<BTreeMap<String, Vec<(f64, f64)>>> = Mutex::new(BTreeMap::new());

/// Measures `routine` under criterion and records its time per iteration as `key`.
pub fn timed(bencher: &mut Bencher<'_>, key: &str, mut routine: impl FnMut()) {
    bencher.iter_custom(|iterations| {
        let elapsed = run(iterations, &mut routine);
        SAMPLES_NS
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_default()
            .push(per_iteration_ns(elapsed, iterations));
        elapsed
    });
}

/// Measures `ours` and `peer` under criterion as one benchmark `key`: every sample
/// times both for the same number of iterations, one right after the other (ours
/// first in even samples, the peer first in odd ones), so the two sides of a ratio
/// see the same load on a shared machine. Records each sample's pair of times per
/// iteration.
pub fn paired(bencher: &mut Bencher<'_>, key: &str, mut ours: impl FnMut(), mut peer: impl FnMut()) {
    let mut sample = 0u64;
    bencher.iter_custom(|iterations| {
        let (ours_time, peer_time) = if sample.is_multiple_of(2) {
            let ours_time = run(iterations, &mut ours);
            (ours_time, run(iterations, &mut peer))
        } else {
            let peer_time = run(iterations, &mut peer);
            (run(iterations, &mut ours), peer_time)
        };
        sample += 1;
        PAIRED_NS.lock().unwrap().entry(key.to_owned()).or_default().push((
            per_iteration_ns(ours_time, iterations),
            per_iteration_ns(peer_time, iterations),
        ));
        ours_time + peer_time
    });
}

fn run(iterations: u64, routine: &mut impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        routine();
    }
    start.elapsed()
}

fn per_iteration_ns(elapsed: Duration, iterations: u64) -> f64 {
    elapsed.as_nanos() as f64 / iterations.max(1) as f64
}

/// Median time per iteration recorded under `key`, in nanoseconds.
pub fn median_ns(key: &str) -> Option<f64> {
    let samples = SAMPLES_NS.lock().unwrap();
    Some(median(samples.get(key)?.clone()))
}

/// A paired measurement: the median time per iteration of each side, and the median
/// over samples of `ratio(ours_ns, peer_ns)` (each sample's two sides measured
/// together).
#[derive(Clone, Copy, Debug)]
pub struct Paired {
    pub ours_ns: f64,
    pub peer_ns: f64,
    pub ratio: f64,
}

/// The paired measurement recorded under `key`, its ratio formed by `ratio`.
pub fn paired_medians(key: &str, ratio: impl Fn(f64, f64) -> f64) -> Option<Paired> {
    let samples = PAIRED_NS.lock().unwrap();
    let pairs = samples.get(key)?;
    Some(Paired {
        ours_ns: median(pairs.iter().map(|pair| pair.0).collect()),
        peer_ns: median(pairs.iter().map(|pair| pair.1).collect()),
        ratio: median(pairs.iter().map(|&(ours, peer)| ratio(ours, peer)).collect()),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
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

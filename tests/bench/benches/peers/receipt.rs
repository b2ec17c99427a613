//! Per-iteration times recorded while criterion measures, and the receipts made of
//! them: one JSON file per row, with the ratio against the peer or limit measured in
//! the same run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use criterion::Bencher;
use serde_json::json;

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

/// How a row's ratio is read against its target.
#[derive(Clone, Copy, Debug)]
pub enum Goal {
    /// The ratio must be at least this.
    AtLeast(f64),
    /// The ratio must be at most this.
    AtMost(f64),
    /// No target: measured to show what a layer costs.
    Recorded,
}

/// One row of the benchmark table.
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
    pub goal: Goal,
}

impl Row {
    /// Whether the ratio meets the target; `None` for a row without one.
    pub fn pass(&self) -> Option<bool> {
        match self.goal {
            Goal::AtLeast(target) => Some(self.ratio >= target),
            Goal::AtMost(target) => Some(self.ratio <= target),
            Goal::Recorded => None,
        }
    }

    fn target(&self) -> String {
        match self.goal {
            Goal::AtLeast(target) => format!(">= {target}"),
            Goal::AtMost(target) => format!("<= {target}"),
            Goal::Recorded => "none".to_owned(),
        }
    }
}

/// Writes one receipt per measured row under `PSIONIC_RECEIPTS_DIR` (default
/// `target/receipts`) and prints the table.
pub fn write(rows: &[Row]) {
    let dir =
        std::env::var_os("PSIONIC_RECEIPTS_DIR").map_or_else(|| workspace_target().join("receipts"), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    let (revision, machine) = (git_revision(), machine());
    println!(
        "\n{:<22} {:>14} {:>14} {:>8} {:>8}  result",
        "row", "ours ns", "peer ns", "ratio", "target"
    );
    for row in rows {
        if row.ours_ns.is_nan() || row.peer_ns.is_nan() {
            println!("{:<22} not measured in this run (filtered out)", row.id);
            continue;
        }
        let receipt = json!({
            "benchmark": row.id,
            "git_revision": revision,
            "machine": machine,
            "ours": { "what": row.ours, "ns_per_iteration": row.ours_ns },
            "peer": { "what": row.peer, "ns_per_iteration": row.peer_ns },
            "ratio": row.ratio,
            "ratio_means": row.ratio_means,
            "target": row.target(),
            "pass": row.pass(),
        });
        let path = dir.join(format!("{}.json", row.id));
        std::fs::write(&path, serde_json::to_string_pretty(&receipt).unwrap()).unwrap();
        let result = match row.pass() {
            Some(true) => "pass",
            Some(false) => "MISS",
            None => "recorded",
        };
        println!(
            "{:<22} {:>14.0} {:>14.0} {:>8.3} {:>8}  {result}",
            row.id,
            row.ours_ns,
            row.peer_ns,
            row.ratio,
            row.target()
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

fn git_revision() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |output| String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        )
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{cpu}, {cores} cores, {}", std::env::consts::OS)
}

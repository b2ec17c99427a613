//! Writing benchmark receipts ([`BenchmarkReceipt`]) to disk, with the facts of the
//! run they describe: the code's revision and the machine.

use std::io;
use std::path::{Path, PathBuf};

use psionic_core::receipt::BenchmarkReceipt;

/// Environment variable naming the directory receipts are written to.
pub const RECEIPTS_DIR_ENV: &str = "PSIONIC_RECEIPTS_DIR";

/// Where and on what a benchmark runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFacts {
    /// The working directory's commit (`git describe --always --dirty`: a `-dirty`
    /// suffix when files differ from it), or `unknown`.
    pub git_revision: String,
    /// CPU model, cores and OS.
    pub machine: String,
}

impl RunFacts {
    /// The facts of this process's run.
    pub fn detect() -> Self {
        Self {
            git_revision: git_revision(),
            machine: machine(),
        }
    }

    /// The pair [`BenchmarkReceipt::new`] takes.
    pub fn as_pair(&self) -> (&str, &str) {
        (&self.git_revision, &self.machine)
    }
}

/// Writes `receipt` as `DIR/BENCHMARK.json` (pretty JSON), creating `dir`; returns
/// the file's path.
pub fn write(dir: &Path, receipt: &BenchmarkReceipt) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}.json", receipt.benchmark));
    let json = serde_json::to_string_pretty(receipt).expect("receipts serialise");
    std::fs::write(&path, json + "\n")?;
    Ok(path)
}

fn git_revision() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=7"])
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

#[cfg(all(test, not(madsim)))]
mod tests {
    use psionic_core::receipt::{Measured, Target, Unit};

    use super::*;

    #[test]
    fn a_written_receipt_reads_back_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let facts = RunFacts::detect();
        let measured = |value| Measured {
            what: "failover p99".into(),
            value,
            unit: Unit::SimulatedMillis,
        };
        let receipt = BenchmarkReceipt::new(
            "D1",
            (measured(864.0), measured(1200.0)),
            (0.72, "ours p99 / 1,200 ms"),
            Target::AtMost(1.0),
            facts.as_pair(),
        );
        let path = write(&dir.path().join("receipts"), &receipt).unwrap();
        assert_eq!(path.file_name().unwrap(), "D1.json");
        let read: BenchmarkReceipt = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(read, receipt);
        assert!(!facts.machine.is_empty());
    }
}

//! Project tasks.
//!
//! - `cargo xtask test`: every test of both build flavours: the normal build (real
//!   tokio, real sockets and processes) and the simulation build (`--cfg madsim`,
//!   in `target/madsim`).
//! - `cargo xtask lint`: `cargo fmt --check` and `cargo clippy -D warnings` for both
//!   flavours.
//! - `cargo xtask ci`: lint, then test.
//! - `cargo xtask matrix`: writes `docs/VALIDATION.md` (see [`matrix`]); fails when a
//!   capability has no test. `test` and `ci` end with it, with the results they saw.

mod matrix;

use std::process::{Command, ExitCode};

/// The simulation flavour: `--cfg madsim` for rustc and rustdoc, the workspace's
/// crates at opt-level 1 (its tests sweep thousands of seeded clusters), its own
/// target dir. Keep in step with the `sim` and `simtest` aliases (`.cargo/config.toml`),
/// which share that target dir.
pub(crate) const SIM_FLAGS: [&str; 8] = [
    "--config",
    "build.rustflags=['--cfg','madsim']",
    "--config",
    "build.rustdocflags=['--cfg','madsim']",
    "--config",
    "profile.dev.opt-level=1",
    "--target-dir",
    "target/madsim",
];

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let steps: Vec<Vec<&str>> = match task.as_str() {
        "test" => test_steps(),
        "lint" => lint_steps(),
        "ci" => lint_steps().into_iter().chain(test_steps()).collect(),
        "matrix" => return write_matrix(),
        _ => {
            eprintln!("usage: cargo xtask <test|lint|ci|matrix>");
            return ExitCode::from(2);
        }
    };
    let mut totals = Totals::default();
    let _ = std::fs::remove_file(matrix::repo().join(matrix::RESULTS_FILE));
    for step in steps {
        eprintln!("==> cargo {}", step.join(" "));
        let status = run_counting(&step, &mut totals);
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => {
                eprintln!("error: `cargo {}` failed with {status}", step.join(" "));
                return ExitCode::FAILURE;
            }
            Err(error) => {
                eprintln!("error: cannot run cargo: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    if totals.seen {
        println!("xtask: {} passed, {} failed", totals.passed, totals.failed);
    }
    match task.as_str() {
        "test" | "ci" => write_matrix(),
        _ => ExitCode::SUCCESS,
    }
}

fn write_matrix() -> ExitCode {
    match matrix::run(&matrix::repo()) {
        Ok(capabilities) => {
            println!(
                "xtask: {} written, {capabilities} capabilities, each proved",
                matrix::MATRIX_FILE
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in problems {
                eprintln!("error: {problem}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Tests counted over every `cargo test` step.
#[derive(Debug, Default)]
struct Totals {
    passed: u64,
    failed: u64,
    seen: bool,
}

/// Runs cargo with `args`, echoing its output (stdout and stderr through one pipe, so
/// each `Running` line stays before the results it names), adding up the `test
/// result:` lines and recording each test executable's.
fn run_counting(args: &[&str], totals: &mut Totals) -> std::io::Result<std::process::ExitStatus> {
    use std::io::{BufRead as _, BufReader};
    let (reader, writer) = std::io::pipe()?;
    let mut child = {
        let mut command = Command::new(env!("CARGO"));
        command
            .args(args)
            .current_dir(matrix::repo())
            .env("CARGO_TERM_COLOR", "never")
            .stdout(writer.try_clone()?)
            .stderr(writer);
        command.spawn()?
    };
    let mut running = None;
    let mut recorded = String::new();
    for line in BufReader::new(reader).lines() {
        let line = line?;
        println!("{line}");
        if let Some(result) = line.strip_prefix("test result: ") {
            totals.seen = true;
            totals.passed += count_before(result, " passed");
            totals.failed += count_before(result, " failed");
            if let Some(executable) = running.take() {
                let result = result.split(" finished").next().unwrap_or(result).trim_end_matches(';');
                recorded.push_str(&format!("{executable}\t{result}\n"));
            }
        }
        if let Some(executable) = running_executable(&line) {
            running = Some(executable);
        }
        if line.trim_start().starts_with("Doc-tests ") {
            running = None;
        }
    }
    record_results(&recorded);
    child.wait()
}

/// The test executable's file name a cargo `Running ... (path)` line names.
fn running_executable(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("Running ")?;
    let path = rest.rsplit_once('(')?.1.trim_end_matches(')');
    Some(std::path::Path::new(path).file_name()?.to_string_lossy().into_owned())
}

/// Appends `recorded` to the results `cargo xtask matrix` reads.
fn record_results(recorded: &str) {
    use std::io::Write as _;
    let path = matrix::repo().join(matrix::RESULTS_FILE);
    let _ = std::fs::create_dir_all(path.parent().expect("the results file sits in a directory"));
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(recorded.as_bytes()));
    if let Err(error) = appended {
        eprintln!("xtask: cannot record results in {}: {error}", matrix::RESULTS_FILE);
    }
}

/// The number just before `label` in `text` ("ok. 3 passed; 0 failed" -> 3).
fn count_before(text: &str, label: &str) -> u64 {
    let Some(end) = text.find(label) else { return 0 };
    text[..end]
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

fn test_steps() -> Vec<Vec<&'static str>> {
    vec![
        vec!["test", "--workspace"],
        [&["test", "--workspace"][..], &SIM_FLAGS[..]].concat(),
    ]
}

/// The benchmarks (criterion, raft-rs) run in the normal flavour only, so the
/// simulation flavour's lint leaves them out.
fn lint_steps() -> Vec<Vec<&'static str>> {
    let clippy = ["clippy", "--workspace", "--all-targets"];
    vec![
        vec!["fmt", "--all", "--check"],
        [&clippy[..], &["--", "-D", "warnings"]].concat(),
        [
            &clippy[..],
            &["--exclude", "psionic-bench"],
            &SIM_FLAGS[..],
            &["--", "-D", "warnings"],
        ]
        .concat(),
    ]
}

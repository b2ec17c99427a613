//! Project tasks.
//!
//! - `cargo xtask test`: every test of both build flavours: the normal build (real
//!   tokio, real sockets and processes) and the simulation build (`--cfg madsim`,
//!   in `target/madsim`).
//! - `cargo xtask lint`: `cargo fmt --check` and `cargo clippy -D warnings` for both
//!   flavours.
//! - `cargo xtask ci`: lint, then test.

use std::process::{Command, ExitCode};

/// The simulation flavour: `--cfg madsim` for rustc and rustdoc, its own target dir.
const SIM_FLAGS: [&str; 6] = [
    "--config",
    "build.rustflags=['--cfg','madsim']",
    "--config",
    "build.rustdocflags=['--cfg','madsim']",
    "--target-dir",
    "target/madsim",
];

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let steps: Vec<Vec<&str>> = match task.as_str() {
        "test" => test_steps(),
        "lint" => lint_steps(),
        "ci" => lint_steps().into_iter().chain(test_steps()).collect(),
        _ => {
            eprintln!("usage: cargo xtask <test|lint|ci>");
            return ExitCode::from(2);
        }
    };
    for step in steps {
        eprintln!("==> cargo {}", step.join(" "));
        let status = Command::new(env!("CARGO")).args(&step).status();
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
    ExitCode::SUCCESS
}

fn test_steps() -> Vec<Vec<&'static str>> {
    vec![
        vec!["test", "--workspace"],
        [&["test", "--workspace"][..], &SIM_FLAGS[..]].concat(),
    ]
}

fn lint_steps() -> Vec<Vec<&'static str>> {
    let clippy = ["clippy", "--workspace", "--all-targets"];
    vec![
        vec!["fmt", "--all", "--check"],
        [&clippy[..], &["--", "-D", "warnings"]].concat(),
        [&clippy[..], &SIM_FLAGS[..], &["--", "-D", "warnings"]].concat(),
    ]
}

//! `cargo sim`: run seeded scenarios in the deterministic simulator.
//!
//! Exit codes: 0 every run passed; 1 a run failed (safety, liveness or crash);
//! 2 usage error (unknown scenario, bad arguments, not a simulation build).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Seeded failover and partition scenarios on the deterministic simulator.
#[derive(Debug, Parser)]
#[command(name = "cargo sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one scenario at one seed.
    Run {
        /// Scenario name (see `list`).
        scenario: String,
        /// Simulation seed: the same seed gives the same trace and digest.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print one JSON object instead of the readable report.
        #[arg(long)]
        json: bool,
        /// Write the full trace as JSON lines to this file.
        #[arg(long)]
        trace: Option<PathBuf>,
    },
    /// List the built-in scenarios.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List => {
            for info in psionic_scenarios::CATALOGUE {
                println!("{:<12} {}", info.name, info.summary);
            }
            ExitCode::SUCCESS
        }
        Command::Run {
            scenario,
            seed,
            json,
            trace,
        } => run(&scenario, seed, json, trace),
    }
}

#[cfg(not(madsim))]
fn run(_scenario: &str, _seed: u64, _json: bool, _trace: Option<PathBuf>) -> ExitCode {
    eprintln!("error: scenarios run in the simulation build; use `cargo sim run ...`");
    ExitCode::from(2)
}

#[cfg(madsim)]
fn run(scenario: &str, seed: u64, json: bool, trace_path: Option<PathBuf>) -> ExitCode {
    let run = match psionic_scenarios::runner::run(scenario, seed) {
        Ok(run) => run,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = trace_path
        && let Err(error) = std::fs::write(&path, run.trace.to_jsonl())
    {
        eprintln!("error: cannot write trace to {}: {error}", path.display());
        return ExitCode::from(2);
    }
    let report = &run.report;
    if json {
        println!("{}", serde_json::to_string(report).expect("reports serialise"));
    } else {
        print_report(report);
    }
    if report.outcome == psionic_sim::Outcome::Pass {
        ExitCode::SUCCESS
    } else {
        eprintln!("reproduce: {}", report.reproduce_command());
        ExitCode::from(1)
    }
}

#[cfg(madsim)]
fn print_report(report: &psionic_sim::Report) {
    let outcome = serde_json::to_value(report.outcome).expect("outcomes serialise");
    println!("scenario  {}", report.scenario);
    println!("seed      {}", report.seed);
    println!("outcome   {}", outcome.as_str().unwrap_or_default());
    println!("digest    {}", report.digest);
    println!("sim time  {:.3} s", report.sim_time_ms as f64 / 1000.0);
    println!("faults    {}", report.faults);
    for reached in &report.reached {
        println!(
            "reached   {} after {} ms",
            serde_json::to_string(&reached.condition).unwrap_or_default(),
            reached.after_ms
        );
    }
    for violation in &report.violations {
        println!("VIOLATION {}", serde_json::to_string(violation).unwrap_or_default());
    }
}

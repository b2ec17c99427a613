//! Arguments and the `run` and `list` commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use psionic_scenarios::runner::{self, Mutation};
use psionic_sim::{Outcome, Report};

use crate::sweep;

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
        /// A built-in scenario (see `list`) or the path of a scenario file.
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
        /// Write a self-contained HTML timeline (one lane per node) to this file.
        #[arg(long)]
        timeline: Option<PathBuf>,
        /// Plant a known bug in every node, to see the checkers catch it.
        #[arg(long, value_enum)]
        mutation: Option<Mutation>,
    },
    /// Run one scenario over a range of seeds and summarise.
    Sweep {
        /// A built-in scenario (see `list`) or the path of a scenario file.
        scenario: String,
        /// Seeds as `A..B` (B excluded) or `A..=B`.
        #[arg(long, value_parser = sweep::parse_seeds)]
        seeds: std::ops::RangeInclusive<u64>,
        /// Print one JSON summary instead of the readable one.
        #[arg(long)]
        json: bool,
        /// Plant a known bug in every node, to see the checkers catch it.
        #[arg(long, value_enum)]
        mutation: Option<Mutation>,
        /// Runs at a time (default: the machine's cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Write the D1 benchmark receipt (failover p99) into this directory
        /// (`failover` over at least 500 seeds, every one passing).
        #[arg(long, value_name = "DIR")]
        receipts: Option<PathBuf>,
    },
    /// Measure simulated seconds per wall second against a heartbeat-only cluster.
    Speed {
        /// A built-in scenario (see `list`) or the path of a scenario file.
        scenario: String,
        /// Seeds as `A..B` (B excluded) or `A..=B`.
        #[arg(long, value_parser = sweep::parse_seeds, default_value = "1..21")]
        seeds: std::ops::RangeInclusive<u64>,
        /// Write the D2 benchmark receipt into this directory (`failover` only).
        #[arg(long, value_name = "DIR")]
        receipts: Option<PathBuf>,
    },
    /// List the built-in scenarios.
    List,
}

pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::List => {
            for scenario in psionic_scenarios::catalogue::all() {
                println!("{:<26} {}", scenario.name, scenario.summary);
            }
            ExitCode::SUCCESS
        }
        Command::Run {
            scenario,
            seed,
            json,
            trace,
            timeline,
            mutation,
        } => {
            let outputs = Outputs { json, trace, timeline };
            run(&scenario, seed, mutation, &outputs)
        }
        Command::Speed {
            scenario,
            seeds,
            receipts,
        } => match psionic_scenarios::load(&scenario) {
            Ok(scenario) => crate::speed::speed(&scenario, seeds, receipts.as_deref()),
            Err(error) => usage_error(&error),
        },
        Command::Sweep {
            scenario,
            seeds,
            json,
            mutation,
            jobs,
            receipts,
        } => match psionic_scenarios::load(&scenario) {
            Ok(scenario) => sweep::sweep(
                &scenario,
                seeds,
                sweep::Options {
                    mutation,
                    jobs,
                    json,
                    receipts_dir: receipts,
                },
            ),
            Err(error) => usage_error(&error),
        },
    }
}

struct Outputs {
    json: bool,
    trace: Option<PathBuf>,
    timeline: Option<PathBuf>,
}

fn run(scenario: &str, seed: u64, mutation: Option<Mutation>, outputs: &Outputs) -> ExitCode {
    let scenario = match psionic_scenarios::load(scenario) {
        Ok(scenario) => scenario,
        Err(error) => return usage_error(&error),
    };
    let run = runner::run(&scenario, seed, mutation);
    if let Some(path) = &outputs.trace
        && let Err(code) = write(path, &run.trace.to_jsonl())
    {
        return code;
    }
    if let Some(path) = &outputs.timeline {
        let page = psionic_sim::timeline::render(&run.report, &run.trace.records());
        if let Err(code) = write(path, &page) {
            return code;
        }
    }
    let report = &run.report;
    if outputs.json {
        println!("{}", serde_json::to_string(report).expect("reports serialise"));
    } else {
        print_report(report);
    }
    if report.outcome == Outcome::Pass {
        ExitCode::SUCCESS
    } else {
        eprintln!("reproduce: {}", report.reproduce_command());
        ExitCode::from(1)
    }
}

fn write(path: &Path, text: &str) -> Result<(), ExitCode> {
    std::fs::write(path, text).map_err(|error| {
        eprintln!("error: cannot write {}: {error}", path.display());
        ExitCode::from(2)
    })
}

pub fn usage_error(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(2)
}

fn print_report(report: &Report) {
    let outcome = serde_json::to_value(report.outcome).expect("outcomes serialise");
    println!("scenario  {}", report.scenario);
    println!("seed      {}", report.seed);
    if let Some(mutation) = &report.mutation {
        println!("mutation  {mutation}");
    }
    println!("nodes     {}", report.nodes);
    println!("outcome   {}", outcome.as_str().unwrap_or_default());
    println!("digest    {}", report.digest);
    println!("sim time  {:.3} s", report.sim_time_ms as f64 / 1000.0);
    println!("faults    {}", report.faults);
    for failover_ms in &report.failover_ms {
        println!("failover  {failover_ms} ms");
    }
    if let (Some(committed), Some(lost)) = (report.proposals_committed, report.proposals_lost) {
        println!("proposals {committed} acknowledged, {lost} lost");
    }
    if let Some(requests) = &report.requests {
        let reroutes: Vec<String> = requests
            .reroutes
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        println!(
            "requests  {} submitted, {} completed, {} refused; rerouted: {}; resubmitted after a deposed coordinator: {}",
            requests.submitted,
            requests.completed,
            requests.refused,
            if reroutes.is_empty() {
                "none".to_owned()
            } else {
                reroutes.join(", ")
            },
            requests.deposed
        );
    }
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

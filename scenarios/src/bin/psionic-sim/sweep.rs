//! The `sweep` command: progress on stderr, the summary on stdout.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use psionic_net::receipt::RunFacts;
use psionic_scenarios::receipts;
use psionic_scenarios::runner::Mutation;
use psionic_scenarios::script::Scenario;
use psionic_scenarios::sweep::{self, Summary};

pub use psionic_scenarios::sweep::parse_seeds;

const BAR_WIDTH: u64 = 40;

/// How to sweep, and what to write.
pub struct Options {
    pub mutation: Option<Mutation>,
    /// Runs at a time (default: the machine's cores).
    pub jobs: Option<usize>,
    /// One JSON summary instead of the readable one.
    pub json: bool,
    /// Where to write the D1 receipt.
    pub receipts_dir: Option<PathBuf>,
}

pub fn sweep(scenario: &Scenario, seeds: std::ops::RangeInclusive<u64>, options: Options) -> ExitCode {
    let total = seeds.end() - seeds.start() + 1;
    if options.receipts_dir.is_some()
        && let Err(refusal) = receipts::d1_allowed(scenario, total, options.mutation.map(Mutation::name))
    {
        return crate::cli::usage_error(&refusal);
    }
    let jobs = options
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let terminal = std::io::stderr().is_terminal();
    let progress = move |done: u64, failed: u64| {
        if terminal {
            let filled = done * BAR_WIDTH / total;
            let bar = format!(
                "{}{}",
                "#".repeat(filled as usize),
                " ".repeat((BAR_WIDTH - filled) as usize)
            );
            eprint!("\r[{bar}] {done}/{total} seeds, {failed} failed");
            let _ = std::io::stderr().flush();
        } else if done.is_multiple_of((total / 10).max(1)) || done == total {
            eprintln!("{done}/{total} seeds, {failed} failed");
        }
    };
    let summary = sweep::sweep(scenario, seeds, options.mutation, jobs, &progress);
    if terminal {
        eprintln!();
    }
    if options.json {
        println!("{}", serde_json::to_string(&summary).expect("summaries serialise"));
    } else {
        print_summary(&summary);
    }
    if !summary.failures.is_empty() {
        return ExitCode::from(1);
    }
    match &options.receipts_dir {
        Some(dir) => crate::receipt::write(dir, receipts::d1(scenario, &summary, RunFacts::detect().as_pair())),
        None => ExitCode::SUCCESS,
    }
}

fn print_summary(summary: &Summary) {
    let runs = summary.passed + summary.failures.len() as u64;
    println!("scenario  {}", summary.scenario);
    println!("seeds     {}..={} ({runs} runs)", summary.seed_first, summary.seed_last);
    if let Some(mutation) = &summary.mutation {
        println!("mutation  {mutation}");
    }
    println!("passed    {}", summary.passed);
    println!("failed    {}", summary.failures.len());
    if let Some(failover) = &summary.failover_ms {
        println!(
            "failover  p50 {} ms, p99 {} ms, max {} ms ({} crashes)",
            failover.p50, failover.p99, failover.max, failover.count
        );
    }
    println!(
        "speed     {:.0} seeds/min, {:.0} simulated s per wall s ({:.1} s wall)",
        summary.seeds_per_minute, summary.sim_s_per_wall_s, summary.wall_s
    );
    for failure in &summary.failures {
        let outcome = serde_json::to_value(failure.outcome).expect("outcomes serialise");
        println!(
            "FAILED    seed {} ({}): {}",
            failure.seed,
            outcome.as_str().unwrap_or_default(),
            failure.first_violation
        );
        println!("          reproduce: {}", failure.reproduce);
    }
}

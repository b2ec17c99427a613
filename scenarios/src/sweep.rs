//! Many seeds of one scenario, run in parallel, and their summary.

use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use psionic_sim::{Outcome, Report};
use serde::Serialize;

use crate::runner::{self, Mutation};
use crate::script::Scenario;

/// What a sweep found.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// First seed.
    pub seed_first: u64,
    /// Last seed (included).
    pub seed_last: u64,
    /// The bug planted, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutation: Option<String>,
    /// Runs that passed.
    pub passed: u64,
    /// Runs that failed, by seed.
    pub failures: Vec<Failure>,
    /// Failover times over every measured crash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover_ms: Option<Percentiles>,
    /// Wall-clock seconds the sweep took.
    pub wall_s: f64,
    /// Simulated seconds per wall second, over every run.
    pub sim_s_per_wall_s: f64,
    /// Seeds per wall minute.
    pub seeds_per_minute: f64,
}

/// One failing seed.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// How it failed.
    pub outcome: Outcome,
    /// The command that reproduces it.
    pub reproduce: String,
    /// Its first violation, as JSON.
    pub first_violation: String,
}

/// Nearest-rank percentiles of a sample.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    /// Percentiles of `samples`, if any.
    pub fn of(mut samples: Vec<u64>) -> Option<Self> {
        samples.sort_unstable();
        let rank = |fraction: f64| {
            let index = ((fraction * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[index]
        };
        (!samples.is_empty()).then(|| Self {
            count: samples.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            max: samples[samples.len() - 1],
        })
    }
}

/// Runs every seed in `seeds` with `jobs` runs at a time; `progress(done, failed)` is
/// called after each run.
pub fn sweep(
    scenario: &Scenario,
    seeds: RangeInclusive<u64>,
    mutation: Option<Mutation>,
    jobs: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Summary {
    let started = Instant::now();
    let next_seed = AtomicU64::new(*seeds.start());
    let reports = Mutex::new(Vec::new());
    let failed = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next_seed.fetch_add(1, Ordering::Relaxed);
                    if seed > *seeds.end() {
                        break;
                    }
                    let report = runner::run(scenario, seed, mutation).report;
                    if report.outcome != Outcome::Pass {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut reports = reports.lock().expect("sweep lock");
                    reports.push(report);
                    progress(reports.len() as u64, failed.load(Ordering::Relaxed));
                }
            });
        }
    });
    let mut reports = reports.into_inner().expect("sweep lock");
    reports.sort_by_key(|report| report.seed);
    summarise(scenario, seeds, mutation, &reports, started.elapsed().as_secs_f64())
}

fn summarise(
    scenario: &Scenario,
    seeds: RangeInclusive<u64>,
    mutation: Option<Mutation>,
    reports: &[Report],
    wall_s: f64,
) -> Summary {
    let failures = reports
        .iter()
        .filter(|report| report.outcome != Outcome::Pass)
        .map(|report| Failure {
            seed: report.seed,
            outcome: report.outcome,
            reproduce: report.reproduce_command(),
            first_violation: report
                .violations
                .first()
                .map(|violation| serde_json::to_string(violation).expect("violations serialise"))
                .unwrap_or_default(),
        })
        .collect::<Vec<_>>();
    let sim_ms: u64 = reports.iter().map(|report| report.sim_time_ms).sum();
    let wall_s = wall_s.max(1e-9);
    Summary {
        scenario: scenario.name.clone(),
        seed_first: *seeds.start(),
        seed_last: *seeds.end(),
        mutation: mutation.map(|mutation| mutation.name().to_owned()),
        passed: reports.len() as u64 - failures.len() as u64,
        failures,
        failover_ms: Percentiles::of(reports.iter().flat_map(|report| report.failover_ms.clone()).collect()),
        wall_s,
        sim_s_per_wall_s: sim_ms as f64 / 1000.0 / wall_s,
        seeds_per_minute: reports.len() as f64 * 60.0 / wall_s,
    }
}

/// `A..B` (B excluded) or `A..=B`.
pub fn parse_seeds(text: &str) -> Result<RangeInclusive<u64>, String> {
    let bad = || format!("expected seeds as A..B or A..=B, got {text:?}");
    let (first, rest) = text.split_once("..").ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last = match rest.strip_prefix('=') {
        Some(last) => last.trim().parse::<u64>().map_err(|_| bad())?,
        None => rest
            .trim()
            .parse::<u64>()
            .map_err(|_| bad())?
            .checked_sub(1)
            .ok_or_else(bad)?,
    };
    if last < first {
        return Err(format!("the seed range {text:?} is empty"));
    }
    Ok(first..=last)
}

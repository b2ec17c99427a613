//! A scenario's simulated seconds per wall second, against a cluster of the same
//! size that only exchanges heartbeats, measured in one process (D2).

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use crate::runner;
use crate::script::Scenario;

/// Heartbeat when the scenario does not override it.
pub const HEARTBEAT_MS_DEFAULT: u64 = 100;

/// What a speed measurement found.
#[derive(Clone, Debug, PartialEq)]
pub struct Speed {
    /// Scenario name.
    pub scenario: String,
    /// Seeds run, one at a time.
    pub runs: u64,
    /// Nodes of the last run (the baseline starts as many for each seed).
    pub nodes: usize,
    /// The baseline's heartbeat period.
    pub heartbeat_ms: u64,
    /// Simulated time of every run together.
    pub sim_s: f64,
    /// Wall time of the scenario's runs.
    pub ours_wall: Duration,
    /// Wall time of the baseline's runs.
    pub baseline_wall: Duration,
}

impl Speed {
    /// Simulated seconds per wall second of the scenario.
    pub fn ours_sim_s_per_wall_s(&self) -> f64 {
        self.sim_s / self.ours_wall.as_secs_f64().max(1e-9)
    }

    /// Simulated seconds per wall second of the baseline.
    pub fn baseline_sim_s_per_wall_s(&self) -> f64 {
        self.sim_s / self.baseline_wall.as_secs_f64().max(1e-9)
    }

    /// Seeds of the scenario per wall minute.
    pub fn seeds_per_minute(&self) -> f64 {
        self.runs as f64 * 60.0 / self.ours_wall.as_secs_f64().max(1e-9)
    }
}

/// Runs `scenario` at each seed, and after each the baseline for as long in
/// simulated time.
pub fn measure(scenario: &Scenario, seeds: RangeInclusive<u64>) -> Speed {
    let heartbeat_ms = scenario
        .cluster
        .consensus
        .timing
        .heartbeat_interval_ms
        .unwrap_or(HEARTBEAT_MS_DEFAULT);
    let mut speed = Speed {
        scenario: scenario.name.clone(),
        runs: 0,
        nodes: 0,
        heartbeat_ms,
        sim_s: 0.0,
        ours_wall: Duration::ZERO,
        baseline_wall: Duration::ZERO,
    };
    for seed in seeds {
        let started = Instant::now();
        let report = runner::run(scenario, seed, None).report;
        speed.ours_wall += started.elapsed();
        speed.baseline_wall +=
            psionic_sim::baseline::heartbeat_only(seed, report.nodes as u8, heartbeat_ms, report.sim_time_ms);
        speed.sim_s += report.sim_time_ms as f64 / 1000.0;
        speed.nodes = report.nodes;
        speed.runs += 1;
    }
    speed
}

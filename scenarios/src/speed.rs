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
    /// Frames the scenario's nodes handed to their transports.
    pub frames: u64,
    /// Heartbeat datagrams the baseline sent.
    pub baseline_datagrams: u64,
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

    /// Frames per simulated second: (ours, the baseline's).
    pub fn frames_per_sim_s(&self) -> (f64, f64) {
        let sim_s = self.sim_s.max(1e-9);
        (self.frames as f64 / sim_s, self.baseline_datagrams as f64 / sim_s)
    }

    /// Wall microseconds per frame, everything included: (ours, the baseline's).
    pub fn wall_us_per_frame(&self) -> (f64, f64) {
        let per = |wall: Duration, frames: u64| wall.as_secs_f64() * 1e6 / frames.max(1) as f64;
        (
            per(self.ours_wall, self.frames),
            per(self.baseline_wall, self.baseline_datagrams),
        )
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
        frames: 0,
        baseline_datagrams: 0,
        ours_wall: Duration::ZERO,
        baseline_wall: Duration::ZERO,
    };
    for seed in seeds {
        let started = Instant::now();
        let report = runner::run(scenario, seed, None).report;
        speed.ours_wall += started.elapsed();
        let baseline =
            psionic_sim::baseline::heartbeat_only(seed, report.nodes as u8, heartbeat_ms, report.sim_time_ms);
        speed.baseline_wall += baseline.wall;
        speed.baseline_datagrams += baseline.datagrams;
        speed.frames += report.frames_sent;
        speed.sim_s += report.sim_time_ms as f64 / 1000.0;
        speed.nodes = report.nodes;
        speed.runs += 1;
    }
    speed
}

//! The `speed` command: a scenario's simulated seconds per wall second, against a
//! cluster of the same size that only exchanges heartbeats, measured in one process.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use psionic_scenarios::runner;
use psionic_scenarios::script::Scenario;

/// Default heartbeat when the scenario does not override it.
const HEARTBEAT_MS_DEFAULT: u64 = 100;

pub fn speed(scenario: &Scenario, seeds: std::ops::RangeInclusive<u64>) -> ExitCode {
    let heartbeat_ms = scenario
        .cluster
        .consensus
        .timing
        .heartbeat_interval_ms
        .unwrap_or(HEARTBEAT_MS_DEFAULT);
    let (mut ours_wall, mut base_wall) = (Duration::ZERO, Duration::ZERO);
    let (mut sim_ms, mut runs) = (0u64, 0u64);
    for seed in seeds {
        let started = Instant::now();
        let report = runner::run(scenario, seed, None).report;
        ours_wall += started.elapsed();
        base_wall += psionic_sim::baseline::heartbeat_only(seed, report.nodes as u8, heartbeat_ms, report.sim_time_ms);
        sim_ms += report.sim_time_ms;
        runs += 1;
    }
    let sim_s = sim_ms as f64 / 1000.0;
    let ours = sim_s / ours_wall.as_secs_f64().max(1e-9);
    let baseline = sim_s / base_wall.as_secs_f64().max(1e-9);
    println!("scenario  {} ({runs} seeds, one at a time)", scenario.name);
    println!(
        "ours      {ours:.0} simulated s per wall s, {:.0} seeds/min",
        runs as f64 * 60.0 / ours_wall.as_secs_f64().max(1e-9)
    );
    println!("baseline  {baseline:.0} simulated s per wall s (heartbeats only, {heartbeat_ms} ms)");
    println!("ratio     {:.2} (target >= 0.5)", ours / baseline);
    ExitCode::SUCCESS
}

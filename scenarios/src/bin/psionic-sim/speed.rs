//! The `speed` command: a scenario's simulated seconds per wall second, against a
//! cluster of the same size that only exchanges heartbeats, measured in one process.

use std::path::Path;
use std::process::ExitCode;

use psionic_net::receipt::RunFacts;
use psionic_scenarios::receipts::{self, D2_RATIO_MIN};
use psionic_scenarios::script::Scenario;
use psionic_scenarios::speed;

use crate::receipt;

pub fn speed(scenario: &Scenario, seeds: std::ops::RangeInclusive<u64>, receipts_dir: Option<&Path>) -> ExitCode {
    if let Some(refusal) = receipts_dir.and_then(|_| receipts::d2_allowed(scenario).err()) {
        return crate::cli::usage_error(&refusal);
    }
    let speed = speed::measure(scenario, seeds);
    let (ours, baseline) = (speed.ours_sim_s_per_wall_s(), speed.baseline_sim_s_per_wall_s());
    println!("scenario  {} ({} seeds, one at a time)", speed.scenario, speed.runs);
    println!(
        "ours      {ours:.0} simulated s per wall s, {:.0} seeds/min",
        speed.seeds_per_minute()
    );
    println!(
        "baseline  {baseline:.0} simulated s per wall s (heartbeats only, {} ms)",
        speed.heartbeat_ms
    );
    let ((frames, datagrams), (ours_us, baseline_us)) = (speed.frames_per_sim_s(), speed.wall_us_per_frame());
    println!("frames    {frames:.0} per simulated s, {ours_us:.1} us wall each, all in");
    println!("          baseline: {datagrams:.0} datagrams per simulated s, {baseline_us:.1} us wall each");
    println!("ratio     {:.2} (target >= {D2_RATIO_MIN})", ours / baseline);
    match receipts_dir {
        Some(dir) => receipt::write(dir, receipts::d2(&speed, RunFacts::detect().as_pair())),
        None => ExitCode::SUCCESS,
    }
}

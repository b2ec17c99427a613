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
    println!("scenario  {} ({} seeds, one at a time)", speed.scenario, speed.runs);
    println!(
        "ours      {:.0} simulated s per wall s, {:.0} seeds/min",
        speed.ours_sim_s_per_wall_s(),
        speed.seeds_per_minute()
    );
    println!(
        "baseline  {:.0} simulated s per wall s (heartbeat datagrams only, {} ms)",
        speed.baseline_sim_s_per_wall_s(),
        speed.heartbeat_ms
    );
    let (frames, datagrams) = speed.frames_per_sim_s();
    let sim_s = speed.sim_s.max(1e-9);
    println!(
        "frames    {frames:.0} per simulated s ({:.0} datagrams, {:.0} on streams), {:.1} us wall each, all in",
        speed.frames.datagrams as f64 / sim_s,
        speed.frames.stream as f64 / sim_s,
        speed.ours_wall_us_per_frame()
    );
    println!(
        "floors    a datagram {:.2} us ({datagrams:.0} per simulated s), a stream frame {:.2} us, a MAC seal + verify {:.2} us",
        speed.baseline.wall_us_per_frame(),
        speed.stream_floor.wall_us_per_frame(),
        speed.mac_us_per_frame
    );
    println!("ratio     {:.2} (target >= {D2_RATIO_MIN})", speed.ratio());
    println!(
        "ceiling   {:.2}: these frames moved and authenticated, with no other work",
        speed.ratio_ceiling()
    );
    let Some(dir) = receipts_dir else {
        return ExitCode::SUCCESS;
    };
    let run = RunFacts::detect();
    let written = receipt::write(dir, receipts::d2(&speed, run.as_pair()));
    if written != ExitCode::SUCCESS {
        return written;
    }
    receipt::write(dir, receipts::d2_ceiling(&speed, run.as_pair()))
}

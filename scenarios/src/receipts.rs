//! Benchmark receipts of the simulation rows: D1 (failover time of `failover` over at
//! least [`D1_SEEDS_MIN`] seeds) and D2 (the simulator's speed on `failover`).

use psionic_core::receipt::{BenchmarkReceipt, Measured, Target, Unit};

use crate::script::Scenario;
use crate::speed::Speed;
use crate::sweep::Summary;

/// The scenario both rows are measured on.
pub const SCENARIO: &str = "failover";
/// Fewest seeds a D1 receipt is made from.
pub const D1_SEEDS_MIN: u64 = 500;
/// D1's target: failover p99 at most this.
pub const D1_P99_MS_MAX: f64 = 1_200.0;
/// D2's target: at least this fraction of the baseline's speed.
pub const D2_RATIO_MIN: f64 = 0.5;
/// Election timeout floor when the scenario does not override it.
const ELECTION_TIMEOUT_MS_MIN_DEFAULT: u64 = 500;

/// Why no receipt is written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptRefusal {
    /// D1 and D2 are defined on one scenario.
    #[error("receipts are measured on the `{SCENARIO}` scenario, not `{scenario}`")]
    OtherScenario { scenario: String },
    /// Too few seeds for a failover distribution.
    #[error("D1 is measured over at least {min} seeds; the range has {seeds}")]
    TooFewSeeds { seeds: u64, min: u64 },
    /// A failing run is a bug to fix, not a measurement.
    #[error("{failed} of {runs} seeds failed; no receipt for a failing sweep")]
    SeedsFailed { failed: u64, runs: u64 },
    /// A planted bug measures the bug.
    #[error("no receipt for a sweep with the `{mutation}` mutation planted")]
    Mutated { mutation: String },
    /// Nothing crashed, so there is no failover to time.
    #[error("no failover was measured")]
    NoFailover,
}

/// Whether a D1 receipt can come of sweeping `scenario` over `seeds` with `mutation`
/// planted (checked before the sweep runs).
pub fn d1_allowed(scenario: &Scenario, seeds: u64, mutation: Option<&str>) -> Result<(), ReceiptRefusal> {
    measured_on(&scenario.name)?;
    if let Some(mutation) = mutation {
        return Err(ReceiptRefusal::Mutated {
            mutation: mutation.to_owned(),
        });
    }
    if seeds < D1_SEEDS_MIN {
        return Err(ReceiptRefusal::TooFewSeeds {
            seeds,
            min: D1_SEEDS_MIN,
        });
    }
    Ok(())
}

/// D1: the failover p99 of `summary` against [`D1_P99_MS_MAX`].
pub fn d1(scenario: &Scenario, summary: &Summary, run: (&str, &str)) -> Result<BenchmarkReceipt, ReceiptRefusal> {
    let runs = summary.passed + summary.failures.len() as u64;
    d1_allowed(scenario, runs, summary.mutation.as_deref())?;
    if !summary.failures.is_empty() {
        return Err(ReceiptRefusal::SeedsFailed {
            failed: summary.failures.len() as u64,
            runs,
        });
    }
    let failover = summary.failover_ms.ok_or(ReceiptRefusal::NoFailover)?;
    let floor_ms = scenario
        .cluster
        .consensus
        .timing
        .election_timeout_ms_min
        .unwrap_or(ELECTION_TIMEOUT_MS_MIN_DEFAULT);
    let ours = Measured {
        what: format!(
            "failover time p99 over {} crashes, seeds {}..={} (p50 {} ms, max {} ms)",
            failover.count, summary.seed_first, summary.seed_last, failover.p50, failover.max
        ),
        value: failover.p99 as f64,
        unit: Unit::SimulatedMillis,
    };
    let limit = Measured {
        what: format!("target; the election-timeout floor is {floor_ms} ms, etcd's defaults give 1,000-2,000 ms"),
        value: D1_P99_MS_MAX,
        unit: Unit::SimulatedMillis,
    };
    Ok(BenchmarkReceipt::new(
        "D1",
        (ours, limit),
        (failover.p99 as f64 / D1_P99_MS_MAX, "ours p99 / 1,200 ms"),
        Target::AtMost(1.0),
        run,
    ))
}

/// Whether a D2 receipt can come of measuring `scenario`.
pub fn d2_allowed(scenario: &Scenario) -> Result<(), ReceiptRefusal> {
    measured_on(&scenario.name)
}

fn measured_on(scenario: &str) -> Result<(), ReceiptRefusal> {
    if scenario != SCENARIO {
        return Err(ReceiptRefusal::OtherScenario {
            scenario: scenario.to_owned(),
        });
    }
    Ok(())
}

/// D2: the simulator's speed on `failover` against the heartbeat-only baseline.
pub fn d2(speed: &Speed, run: (&str, &str)) -> Result<BenchmarkReceipt, ReceiptRefusal> {
    measured_on(&speed.scenario)?;
    let (frames, _) = speed.frames_per_sim_s();
    let ours = Measured {
        what: format!(
            "`{}` over {} seeds one at a time, MAC on every frame ({:.0} seeds/min; {frames:.0} frames per simulated s, {:.1} us wall each)",
            speed.scenario,
            speed.runs,
            speed.seeds_per_minute(),
            speed.ours_wall_us_per_frame()
        ),
        value: speed.ours_sim_s_per_wall_s(),
        unit: Unit::SimulatedSecondsPerWallSecond,
    };
    Ok(BenchmarkReceipt::new(
        "D2",
        (ours, baseline(speed)),
        (speed.ratio(), "ours simulated s per wall s / baseline's"),
        Target::AtLeast(D2_RATIO_MIN),
        run,
    ))
}

/// D2-ceiling: what a node doing nothing but moving and authenticating `failover`'s
/// frames would reach against the same baseline; D2 cannot pass where this fails.
pub fn d2_ceiling(speed: &Speed, run: (&str, &str)) -> Result<BenchmarkReceipt, ReceiptRefusal> {
    measured_on(&speed.scenario)?;
    let floor = Measured {
        what: format!(
            "`{}`'s frames over {} seeds ({} datagrams at {:.2} us, {} stream frames at {:.2} us: the floors' costs; each sealed and verified at {:.2} us), nothing else",
            speed.scenario,
            speed.runs,
            speed.frames.datagrams,
            speed.baseline.wall_us_per_frame(),
            speed.frames.stream,
            speed.stream_floor.wall_us_per_frame(),
            speed.mac_us_per_frame
        ),
        value: speed.sim_s / speed.transport_and_mac_wall().as_secs_f64().max(1e-9),
        unit: Unit::SimulatedSecondsPerWallSecond,
    };
    Ok(BenchmarkReceipt::new(
        "D2-ceiling",
        (floor, baseline(speed)),
        (
            speed.ratio_ceiling(),
            "transport and MAC alone, simulated s per wall s / baseline's",
        ),
        Target::AtLeast(D2_RATIO_MIN),
        run,
    ))
}

fn baseline(speed: &Speed) -> Measured {
    let (_, datagrams) = speed.frames_per_sim_s();
    Measured {
        what: format!(
            "{} madsim nodes exchanging only {} ms heartbeats for as long ({datagrams:.0} datagrams per simulated s, {:.1} us wall each)",
            speed.nodes,
            speed.heartbeat_ms,
            speed.baseline.wall_us_per_frame()
        ),
        value: speed.baseline_sim_s_per_wall_s(),
        unit: Unit::SimulatedSecondsPerWallSecond,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use psionic_core::receipt::Target;

    use super::*;
    use psionic_sim::report::FramesSent;

    use crate::speed::Floor;
    use crate::sweep::{Failure, Percentiles};

    const RUN: (&str, &str) = ("abc1234", "a CPU, 2 cores, linux");

    fn failover() -> Scenario {
        crate::load("failover").unwrap()
    }

    fn summary(seeds: u64, failover_ms: Vec<u64>) -> Summary {
        Summary {
            scenario: SCENARIO.into(),
            seed_first: 1,
            seed_last: seeds,
            mutation: None,
            passed: seeds,
            failures: Vec::new(),
            failover_ms: Percentiles::of(failover_ms),
            wall_s: 1.0,
            sim_s_per_wall_s: 1.0,
            seeds_per_minute: 1.0,
        }
    }

    #[test]
    fn d1_holds_the_p99_to_1200_ms() {
        let met = d1(&failover(), &summary(500, vec![600; 500]), RUN).unwrap();
        assert_eq!(
            (met.benchmark.as_str(), met.ours.value, met.pass),
            ("D1", 600.0, Some(true))
        );
        assert_eq!(met.ratio, 0.5);
        let missed = d1(&failover(), &summary(500, vec![1_300; 500]), RUN).unwrap();
        assert_eq!(missed.pass, Some(false));
        assert_eq!(missed.target, Target::AtMost(1.0));
    }

    #[test]
    fn d1_refuses_other_scenarios_short_sweeps_failures_no_failover_and_mutations() {
        let other = crate::load("discovery").unwrap();
        assert_eq!(
            d1_allowed(&other, 1_000, None),
            Err(ReceiptRefusal::OtherScenario {
                scenario: "discovery".into()
            })
        );
        assert_eq!(
            d1(&failover(), &summary(499, vec![600; 499]), RUN),
            Err(ReceiptRefusal::TooFewSeeds { seeds: 499, min: 500 })
        );
        let mut failing = summary(500, vec![600; 500]);
        failing.passed = 499;
        failing.failures.push(Failure {
            seed: 7,
            outcome: psionic_sim::Outcome::SafetyViolation,
            reproduce: String::new(),
            first_violation: String::new(),
        });
        assert_eq!(
            d1(&failover(), &failing, RUN),
            Err(ReceiptRefusal::SeedsFailed { failed: 1, runs: 500 })
        );
        assert_eq!(
            d1(&failover(), &summary(500, Vec::new()), RUN),
            Err(ReceiptRefusal::NoFailover)
        );
        let mut mutated = summary(500, vec![600; 500]);
        mutated.mutation = Some("vote-ignores-log".into());
        assert_eq!(
            d1(&failover(), &mutated, RUN),
            Err(ReceiptRefusal::Mutated {
                mutation: "vote-ignores-log".into()
            })
        );
    }

    fn speed() -> Speed {
        let floor = |wall_ms, frames| Floor {
            wall: Duration::from_millis(wall_ms),
            frames_sent: frames,
            frames_received: frames,
        };
        Speed {
            scenario: SCENARIO.into(),
            runs: 10,
            nodes: 5,
            heartbeat_ms: 100,
            sim_s: 100.0,
            frames: FramesSent {
                datagrams: 10_000,
                stream: 20_000,
                bytes: 30_000 * 200,
                authenticated_bytes: 30_000 * 100,
            },
            ours_wall: Duration::from_millis(400),
            baseline: floor(100, 20_000),
            stream_floor: floor(200, 20_000),
            mac_us_per_frame: 1.0,
        }
    }

    #[test]
    fn d2_is_the_speed_ratio_against_the_baseline() {
        let receipt = d2(&speed(), RUN).unwrap();
        assert_eq!((receipt.ours.value, receipt.peer.value), (250.0, 1_000.0));
        assert_eq!((receipt.ratio, receipt.pass), (0.25, Some(false)));
        assert!(
            receipt
                .ours
                .what
                .contains("300 frames per simulated s, 13.3 us wall each")
        );
        assert!(
            receipt
                .peer
                .what
                .contains("200 datagrams per simulated s, 5.0 us wall each")
        );
        let other = Speed {
            scenario: "swarm".into(),
            ..speed()
        };
        assert!(matches!(d2(&other, RUN), Err(ReceiptRefusal::OtherScenario { .. })));
        assert!(matches!(
            d2_ceiling(&other, RUN),
            Err(ReceiptRefusal::OtherScenario { .. })
        ));
    }

    /// 10,000 datagrams at 5 us, 20,000 stream frames at 10 us and 30,000 MACs at
    /// 1 us: 280 ms of wall time against the baseline's 100 ms.
    #[test]
    fn the_ceiling_prices_each_frame_by_its_transport_and_its_mac() {
        let speed = speed();
        let wall_ms = speed.transport_and_mac_wall().as_secs_f64() * 1e3;
        assert!((wall_ms - 280.0).abs() < 1e-6, "{wall_ms} ms");
        let receipt = d2_ceiling(&speed, RUN).unwrap();
        assert_eq!(receipt.benchmark, "D2-ceiling");
        assert!((receipt.ratio - 100.0 / 280.0).abs() < 1e-9, "{}", receipt.ratio);
        assert_eq!(receipt.pass, Some(false));
        let cheap_transport = Speed {
            stream_floor: Floor {
                wall: Duration::from_millis(20),
                ..speed.stream_floor
            },
            mac_us_per_frame: 0.1,
            ..speed
        };
        // 50 + 20 + 3 ms.
        assert_eq!(d2_ceiling(&cheap_transport, RUN).unwrap().pass, Some(true));
    }
}

//! Benchmark receipts: a performance claim as a ratio of two measurements taken in
//! the same run, ours against a peer or a limit, with the target it is held to.

use serde::{Deserialize, Serialize};

/// One benchmark row as measured: what ran, on what, and whether it met its target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkReceipt {
    /// Row id in `docs/PERFORMANCE.md` (`C1-3n-b1`, `D2`, ...).
    pub benchmark: String,
    /// Revision of the code measured (`unknown` outside a git checkout).
    pub git_revision: String,
    /// The machine it ran on (CPU model, cores, OS).
    pub machine: String,
    /// Our measurement.
    pub ours: Measured,
    /// The peer or limit measured beside it.
    pub peer: Measured,
    /// How the ratio is formed (`ours throughput / raft-rs throughput`).
    pub ratio_means: String,
    /// The ratio of the two measurements.
    pub ratio: f64,
    /// What the ratio is held to.
    pub target: Target,
    /// Whether the ratio meets the target; `None` when the row has no target.
    pub pass: Option<bool>,
}

/// One measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    /// What was measured.
    pub what: String,
    /// The value, in `unit`.
    pub value: f64,
    /// The unit of `value`.
    pub unit: Unit,
}

/// Units a measurement is taken in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Wall-clock nanoseconds per iteration (median of the samples).
    NanosPerIteration,
    /// Milliseconds of simulated time.
    SimulatedMillis,
    /// Simulated seconds per wall-clock second.
    SimulatedSecondsPerWallSecond,
    /// Requests answered per wall-clock second.
    RequestsPerSecond,
    /// Tokens produced per wall-clock second.
    TokensPerSecond,
}

/// What a ratio is held to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The ratio must be at least this.
    AtLeast(f64),
    /// The ratio must be at most this.
    AtMost(f64),
    /// No target: recorded to show what a layer costs.
    None,
}

impl Target {
    /// Whether `ratio` meets this target; `None` without one. A ratio that is not a
    /// number (a measurement missing) meets no target.
    pub fn met_by(self, ratio: f64) -> Option<bool> {
        match self {
            Target::AtLeast(bound) => Some(ratio >= bound),
            Target::AtMost(bound) => Some(ratio <= bound),
            Target::None => None,
        }
    }
}

impl BenchmarkReceipt {
    /// The receipt of `benchmark`, whose ratio is `ratio` (formed as `ratio_means`
    /// says) held to `target`.
    pub fn new(
        benchmark: impl Into<String>,
        (ours, peer): (Measured, Measured),
        (ratio, ratio_means): (f64, &str),
        target: Target,
        (git_revision, machine): (&str, &str),
    ) -> Self {
        Self {
            benchmark: benchmark.into(),
            git_revision: git_revision.to_owned(),
            machine: machine.to_owned(),
            ours,
            peer,
            ratio_means: ratio_means.to_owned(),
            ratio,
            target,
            pass: target.met_by(ratio),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(value: f64) -> Measured {
        Measured {
            what: "x".into(),
            value,
            unit: Unit::SimulatedMillis,
        }
    }

    #[test]
    fn pass_follows_the_target_and_a_missing_measurement_fails() {
        let receipt = |ratio, target| {
            BenchmarkReceipt::new(
                "D1",
                (measured(1.0), measured(2.0)),
                (ratio, "a / b"),
                target,
                ("abc", "m"),
            )
            .pass
        };
        assert_eq!(receipt(0.5, Target::AtMost(1.0)), Some(true));
        assert_eq!(receipt(1.5, Target::AtMost(1.0)), Some(false));
        assert_eq!(receipt(0.5, Target::AtLeast(1.0)), Some(false));
        assert_eq!(receipt(f64::NAN, Target::AtLeast(1.0)), Some(false));
        assert_eq!(receipt(f64::NAN, Target::AtMost(1.0)), Some(false));
        assert_eq!(receipt(3.0, Target::None), None);
    }

    #[test]
    fn receipts_read_back_as_written_and_refuse_unknown_fields() {
        let written = BenchmarkReceipt::new(
            "C1-3n-b1",
            (measured(2.5), measured(4.0)),
            (1.6, "ours throughput / raft-rs throughput"),
            Target::AtLeast(1.0),
            ("abc1234", "a CPU, 2 cores, linux"),
        );
        let json = serde_json::to_value(&written).unwrap();
        assert_eq!(json["target"], serde_json::json!({ "at-least": 1.0 }));
        assert_eq!(json["ours"]["unit"], "simulated-millis");
        let read: BenchmarkReceipt = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(read, written);
        let mut extra = json;
        extra["speedup"] = 2.into();
        assert!(serde_json::from_value::<BenchmarkReceipt>(extra).is_err());
    }
}

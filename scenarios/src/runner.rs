//! Runs one scenario at one seed inside a fresh madsim runtime.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use psionic_sim::cluster::SimCluster;
use psionic_sim::{Report, Trace, Violation};

use crate::catalogue;

/// A finished run: its report and full trace.
#[derive(Debug)]
pub struct Run {
    /// The report.
    pub report: Report,
    /// The trace.
    pub trace: Trace,
}

/// The scenario name is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no scenario named {name:?}; `cargo sim list` shows them")]
pub struct UnknownScenario {
    /// The name asked for.
    pub name: String,
}

/// Simulated network latency of every link.
pub const SEND_LATENCY: std::ops::Range<Duration> = Duration::from_millis(1)..Duration::from_millis(10);

/// Runs `name` at `seed` on a fresh thread (madsim keeps per-thread state, so a run
/// that shared a thread with an earlier one could diverge). A panic inside the
/// simulation is reported as a crash.
pub fn run(name: &str, seed: u64) -> Result<Run, UnknownScenario> {
    let info = catalogue::find(name).ok_or_else(|| UnknownScenario { name: name.to_owned() })?;
    std::thread::scope(|scope| scope.spawn(|| run_on_this_thread(info, seed)).join())
        .map_err(|_| UnknownScenario { name: name.to_owned() })
}

fn run_on_this_thread(info: &'static catalogue::ScenarioInfo, seed: u64) -> Run {
    let name = info.name;
    let mut config = madsim::Config::default();
    config.net.send_latency = SEND_LATENCY;
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, config);
    let trace = Trace::default();
    let scenario_trace = trace.clone();
    let scenario = info.name;
    let finished = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async move {
            let cluster = SimCluster::new(scenario_trace);
            let (mut cluster, failover_ms) = match scenario {
                "discovery" => (crate::discovery::run(cluster).await, Vec::new()),
                "failover" => crate::failover::run(cluster).await,
                other => unreachable!("catalogue lists {other} without a body"),
            };
            let proposals = (scenario == "failover").then(|| cluster.check_acknowledged());
            let outcome = (
                cluster.violations(),
                cluster.reached().to_vec(),
                cluster.faults(),
                cluster.now_ms(),
            );
            (outcome, failover_ms, proposals)
        })
    }));
    let ((violations, reached, faults, sim_time_ms), failover_ms, proposals) = finished.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
            .unwrap_or_else(|| "panic with a non-text payload".to_owned());
        ((vec![Violation::Panic { message }], Vec::new(), 0, 0), Vec::new(), None)
    });
    let report = Report {
        scenario: name.to_owned(),
        seed,
        outcome: Report::outcome_of(&violations),
        digest: trace.digest().to_hex(),
        sim_time_ms,
        violations,
        faults,
        reached,
        failover_ms,
        proposals_committed: proposals.map(|(acknowledged, _)| acknowledged),
        proposals_lost: proposals.map(|(_, lost)| lost),
    };
    Run { report, trace }
}

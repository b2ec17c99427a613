//! Every built-in scenario holds safety and liveness over 100 seeds, and its runs are
//! reproducible: pinned digests for fixed seeds, identical traces for the same seed.
//!
//! proves: D1, D4
#![cfg(madsim)]

use psionic_scenarios::{catalogue, load, runner, sweep};
use psionic_sim::Outcome;

const SEEDS_PER_SCENARIO: u64 = 100;

fn sweep_passes(name: &str) {
    let scenario = load(name).unwrap();
    let summary = sweep::sweep(&scenario, 1..=SEEDS_PER_SCENARIO, None, 1, &|_, _| {});
    assert!(
        summary.failures.is_empty(),
        "{name}: {} of {SEEDS_PER_SCENARIO} seeds failed: {:#?}",
        summary.failures.len(),
        summary.failures
    );
    assert_eq!(summary.passed, SEEDS_PER_SCENARIO);
}

macro_rules! sweeps {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                sweep_passes($name);
            }
        )*
    };
}

sweeps! {
    discovery_sweep => "discovery",
    failover_sweep => "failover",
    leader_isolation_sweep => "leader-isolation",
    minority_partition_sweep => "minority-partition",
    flapping_links_sweep => "flapping-links",
    rolling_restart_sweep => "rolling-restart",
    clock_skew_sweep => "clock-skew",
    lagging_follower_snapshot_sweep => "lagging-follower-snapshot",
    bridge_and_halves_sweep => "bridge-and-halves",
    gpu_fleet_sweep => "gpu-fleet",
    scheduling_sweep => "scheduling",
    forwarded_requests_sweep => "forwarded-requests",
    swarm_sweep => "swarm",
    long_partition_sweep => "long-partition",
    membership_churn_sweep => "membership-churn",
    transfer_under_faults_sweep => "transfer-under-faults",
    storage_faults_sweep => "storage-faults",
    join_by_runbook_sweep => "join-by-runbook",
    credential_rotation_sweep => "credential-rotation",
    staging_sweep => "staging",
}

#[test]
fn a_sweep_test_exists_for_every_built_in_scenario() {
    let source = include_str!("catalogue.rs");
    for (name, _) in catalogue::CATALOGUE {
        assert!(source.contains(&format!("=> \"{name}\"")), "{name} has no sweep test");
    }
}

#[test]
fn digests_of_fixed_seeds_are_pinned() {
    let lines: Vec<String> = catalogue::all()
        .iter()
        .flat_map(|scenario| {
            [1u64, 2].map(|seed| {
                let report = runner::run(scenario, seed, None).report;
                format!(
                    "{} seed {seed}: {:?}, {} nodes, {} faults, digest {}",
                    report.scenario, report.outcome, report.nodes, report.faults, report.digest
                )
            })
        })
        .collect();
    insta::assert_yaml_snapshot!(lines);
}

#[test]
fn the_same_seed_gives_the_same_trace_and_another_seed_another() {
    let scenario = load("swarm").unwrap();
    let first = runner::run(&scenario, 7, None);
    let second = runner::run(&scenario, 7, None);
    assert_eq!(first.trace.to_jsonl(), second.trace.to_jsonl());
    assert_eq!(first.report, second.report);
    let other = runner::run(&scenario, 8, None);
    assert_ne!(first.report.digest, other.report.digest, "the seed must matter");
}

#[test]
fn madsim_finds_no_nondeterministic_draw_in_failover() {
    // What `MADSIM_TEST_CHECK_DETERMINISM=1` does for `#[madsim::test]`: run twice with
    // the same seed, logging every random draw, and panic at the first that differs.
    madsim::runtime::Runtime::check_determinism(11, madsim::Config::default(), || async {
        let scenario = load("failover").unwrap();
        let verdict = runner::play(&scenario, None, psionic_sim::Trace::default()).await;
        assert!(verdict.violations.is_empty(), "{:#?}", verdict.violations);
    });
}

#[test]
fn a_run_that_fails_reports_a_reproduce_command() {
    let scenario = load("failover").unwrap();
    let run = runner::run(&scenario, 1, Some(runner::Mutation::NoFenceCheck));
    assert_eq!(run.report.outcome, Outcome::SafetyViolation);
    assert_eq!(
        run.report.reproduce_command(),
        "cargo sim run failover --seed 1 --mutation no-fence-check"
    );
}

/// Many crashes under a heavy workload, so that some land inside an fsync.
const CRASHES_UNDER_LOAD: &str = r#"
summary = "crashes every few hundred ms under 100 proposals per second"
[cluster]
nodes = 3
[[step]]
do = "expect"
condition = "one-leader"
within_ms = 10_000
[[step]]
do = "workload"
rate_per_s = 100
[[step]]
do = "chaos"
for_ms = 10_000
every_ms = [50, 300]
faults = ["kill"]
[liveness]
leader_within_ms = 10_000
converge_within_ms = 10_000
"#;

#[test]
fn a_crash_between_write_and_fsync_loses_the_write_and_the_node_recovers() {
    let scenario = psionic_scenarios::script::parse("crashes-under-load", CRASHES_UNDER_LOAD).unwrap();
    let (seed, run) = (1..=20)
        .map(|seed| (seed, runner::run(&scenario, seed, None)))
        .find(|(_, run)| {
            run.trace
                .records()
                .iter()
                .any(|record| matches!(record.kind, psionic_sim::TraceKind::UnsyncedWritesLost { .. }))
        })
        .expect("some seed in 1..=20 kills a node inside an fsync");
    assert_eq!(
        run.report.outcome,
        Outcome::Pass,
        "seed {seed}: {:#?}",
        run.report.violations
    );
    assert_eq!(run.report.proposals_lost, Some(0), "seed {seed}");
}

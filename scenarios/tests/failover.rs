//! The `failover` scenario: safety and liveness across seeds, pinned digests.
#![cfg(madsim)]

use psionic_scenarios::runner;
use psionic_sim::{Condition, Outcome};

#[test]
fn failover_holds_safety_and_recovers_on_a_sweep_of_seeds() {
    for seed in 1..=12 {
        let run = runner::run("failover", seed).expect("failover is in the catalogue");
        let report = &run.report;
        assert_eq!(report.outcome, Outcome::Pass, "seed {seed}: {:#?}", report.violations);
        assert_eq!(report.proposals_lost, Some(0), "seed {seed}");
        assert!(
            report.proposals_committed.unwrap_or(0) > 20,
            "seed {seed}: the workload committed: {report:?}"
        );
        assert_eq!(
            report.failover_ms.len(),
            1,
            "seed {seed}: the leader crash was measured"
        );
        assert!(
            report.faults >= 4,
            "seed {seed}: kill, partition, heal and restart happened"
        );
        let conditions: Vec<&Condition> = report.reached.iter().map(|reached| &reached.condition).collect();
        assert!(
            conditions
                .iter()
                .any(|condition| matches!(condition, Condition::Converged { .. })),
            "seed {seed}"
        );
    }
}

#[test]
fn failover_digests_are_pinned() {
    let digests: Vec<(u64, String)> = [1u64, 2, 3]
        .iter()
        .map(|seed| (*seed, runner::run("failover", *seed).unwrap().report.digest))
        .collect();
    insta::assert_yaml_snapshot!(digests);
}

#[test]
fn failover_is_deterministic() {
    let first = runner::run("failover", 9).unwrap();
    let second = runner::run("failover", 9).unwrap();
    assert_eq!(first.trace.to_jsonl(), second.trace.to_jsonl());
}

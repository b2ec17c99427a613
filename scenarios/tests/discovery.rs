//! The `discovery` scenario: pinned digests and determinism.
#![cfg(madsim)]

use psionic_scenarios::runner;
use psionic_sim::{Condition, Outcome, TraceKind};

const SEEDS: [u64; 4] = [1, 2, 3, 42];

#[test]
fn discovery_passes_and_its_digests_are_pinned() {
    let digests: Vec<(u64, String)> = SEEDS
        .iter()
        .map(|seed| {
            let run = runner::run("discovery", *seed).expect("discovery is in the catalogue");
            assert_eq!(run.report.outcome, Outcome::Pass, "{:#?}", run.report);
            (*seed, run.report.digest)
        })
        .collect();
    insta::assert_yaml_snapshot!(digests);
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let first = runner::run("discovery", 7).unwrap();
    let second = runner::run("discovery", 7).unwrap();
    assert_eq!(first.trace.to_jsonl(), second.trace.to_jsonl());
    assert_eq!(first.report, second.report);
    let other = runner::run("discovery", 8).unwrap();
    assert_ne!(first.report.digest, other.report.digest, "the seed must matter");
}

#[test]
fn every_fault_the_scenario_asks_for_has_its_effect() {
    let run = runner::run("discovery", 5).unwrap();
    let records = run.trace.records();
    let faults = records
        .iter()
        .filter(|record| matches!(record.kind, TraceKind::Fault { .. }))
        .count();
    assert_eq!(faults, run.report.faults);
    // isolate, heal, kill, restart, and one replay to each of the 4 other honest nodes.
    assert_eq!(faults, 8);
    let reached: Vec<&Condition> = run.report.reached.iter().map(|reached| &reached.condition).collect();
    assert!(reached.contains(&&Condition::Isolated { subject: "n3".into() }));
    let refused_by_rule = |kind: psionic_core::RefusalKind| {
        reached
            .iter()
            .filter(|condition| matches!(condition, Condition::Refused { kind: found, .. } if *found == kind))
            .count()
    };
    assert_eq!(
        refused_by_rule(psionic_core::RefusalKind::StaleEpoch),
        4,
        "each replay was refused as a stale epoch"
    );
    assert_eq!(
        refused_by_rule(psionic_core::RefusalKind::AuthenticationFailed),
        5,
        "every honest node refused the intruder"
    );
    let restarts = records
        .iter()
        .filter(|record| record.node == "n2" && matches!(record.kind, TraceKind::Start { .. }))
        .count();
    assert_eq!(restarts, 2);
}

#[test]
fn an_unknown_scenario_is_a_typed_error() {
    let error = runner::run("no-such-scenario", 1).unwrap_err();
    assert_eq!(error.name, "no-such-scenario");
}

//! The `discovery` scenario: every fault it asks for has its effect.
#![cfg(madsim)]

use psionic_core::RefusalKind;
use psionic_scenarios::{load, runner};
use psionic_sim::{Condition, Outcome, TraceKind};

#[test]
fn every_fault_the_scenario_asks_for_has_its_effect() {
    let scenario = load("discovery").unwrap();
    let run = runner::run(&scenario, 5, None);
    assert_eq!(run.report.outcome, Outcome::Pass, "{:#?}", run.report.violations);
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
    let refused_by_rule = |kind: RefusalKind| {
        reached
            .iter()
            .filter(|condition| matches!(condition, Condition::Refused { kind: found, .. } if *found == kind))
            .count()
    };
    assert_eq!(
        refused_by_rule(RefusalKind::StaleEpoch),
        4,
        "each replay was refused as a stale epoch"
    );
    assert_eq!(
        refused_by_rule(RefusalKind::AuthenticationFailed),
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
    let error = load("no-such-scenario").unwrap_err();
    assert!(matches!(error, psionic_scenarios::LoadError::Unknown { name } if name == "no-such-scenario"));
}

//! The `discovery` scenario: every fault it asks for has its effect.
//!
//! proves: F2, D1
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

/// Replays n2's first-life frames to every other node, a burst at a time, while a
/// heavy client workload keeps the drivers busy with other inputs: every replayed
/// datagram reaches its target's core and is refused (none is lost in the receive).
#[test]
fn every_replayed_datagram_reaches_the_core_of_a_busy_node() {
    let replay = "[[step]]\nafter_ms = 37\ndo = \"replay\"\nnode = \"n2\"\nepoch = 1\nto = \"all\"\n\n";
    let text = format!(
        "summary = \"replays under load\"\n\n[cluster]\nnodes = 3\n\n\
         [[step]]\ndo = \"expect\"\ncondition = \"one-leader\"\nwithin_ms = 10_000\n\n\
         [[step]]\ndo = \"workload\"\nrate_per_s = 400\n\n\
         [[step]]\nafter_ms = 300\ndo = \"kill\"\nnode = \"n2\"\n\n\
         [[step]]\nafter_ms = 300\ndo = \"restart\"\nnode = \"n2\"\n\n\
         [[step]]\ndo = \"expect\"\ncondition = \"rejoined\"\nnode = \"n2\"\nepoch = 2\nwithin_ms = 10_000\n\n\
         {}[[step]]\nafter_ms = 500\ndo = \"stop-workload\"\n",
        replay.repeat(20)
    );
    let scenario = psionic_scenarios::script::parse("replays-under-load", &text).unwrap();
    let run = runner::run(&scenario, 7, None);
    assert_eq!(run.report.outcome, Outcome::Pass, "{:#?}", run.report.violations);
    let records = run.trace.records();
    let replayed: usize = records
        .iter()
        .map(|record| match &record.kind {
            TraceKind::Fault {
                fault: psionic_sim::Fault::Replay { frames, .. },
            } => *frames,
            _ => 0,
        })
        .sum();
    let refused = records
        .iter()
        .filter(|record| {
            matches!(&record.kind, TraceKind::Event {
                event: psionic_core::Event::Refused { from, .. },
            } if from.ip() == std::net::Ipv4Addr::new(10, 0, 255, 1))
        })
        .count();
    assert!(replayed >= 20 * 2 * 8, "the replays ran: {replayed} frames");
    assert_eq!(refused, replayed, "every replayed datagram was refused by its target");
}

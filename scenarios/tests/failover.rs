//! The `failover` scenario: the crash is measured, acknowledged work survives, and the
//! stalled leader's stale decisions are refused.
//!
//! proves: F5, D1
#![cfg(madsim)]

use psionic_core::{Event, RefusalKind};
use psionic_scenarios::{load, runner};
use psionic_sim::trace::Fault;
use psionic_sim::{Condition, Outcome, TraceKind};

#[test]
fn failover_is_measured_and_loses_nothing_acknowledged() {
    let scenario = load("failover").unwrap();
    for seed in 1..=8 {
        let run = runner::run(&scenario, seed, None);
        let report = &run.report;
        assert_eq!(report.outcome, Outcome::Pass, "seed {seed}: {:#?}", report.violations);
        assert_eq!(report.proposals_lost, Some(0), "seed {seed}");
        assert!(
            report.proposals_committed.unwrap_or(0) > 20,
            "seed {seed}: the workload committed"
        );
        assert_eq!(
            report.failover_ms.len(),
            1,
            "seed {seed}: the leader crash was measured"
        );
        // A leader of five appends to four followers every 100 ms heartbeat at least.
        let frames_per_sim_s = report.frames_sent.total() as f64 * 1000.0 / report.sim_time_ms as f64;
        assert!(frames_per_sim_s > 40.0, "seed {seed}: {frames_per_sim_s} frames per s");
        let conditions: Vec<&Condition> = report.reached.iter().map(|reached| &reached.condition).collect();
        assert!(
            conditions
                .iter()
                .any(|condition| matches!(condition, Condition::Converged { .. }))
        );
    }
}

#[test]
fn every_fault_fires_and_the_stalled_leader_is_fenced_off() {
    let scenario = load("failover").unwrap();
    let run = runner::run(&scenario, 3, None);
    let faults: Vec<Fault> = run
        .trace
        .records()
        .into_iter()
        .filter_map(|record| match record.kind {
            TraceKind::Fault { fault } => Some(fault),
            _ => None,
        })
        .collect();
    let kinds: Vec<&str> = faults
        .iter()
        .map(|fault| match fault {
            Fault::Kill { .. } => "kill",
            Fault::Partition { .. } => "partition",
            Fault::Heal => "heal",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Resume { .. } => "resume",
            Fault::Impostor { .. } => "impostor",
            _ => "other",
        })
        .collect();
    let mut expected = vec!["kill", "partition", "heal", "restart", "pause", "resume"];
    expected.extend(["impostor"; 4]);
    assert_eq!(kinds, expected, "the impostor spoke to each of the other four voters");
    let stale_refused = run.trace.records().iter().any(|record| {
        matches!(&record.kind, TraceKind::Event { event: Event::Refused { refusal, .. } }
            if refusal.kind() == RefusalKind::StaleFence)
    });
    assert!(stale_refused, "the woken leader's decisions were refused as stale");
}

/// The speed measurement sees both transports of the scenario and both floors move
/// their heartbeats, so its ceiling prices real traffic (no timing is asserted).
#[test]
fn speed_counts_each_transport_and_runs_both_floors() {
    let scenario = load("failover").unwrap();
    let speed = psionic_scenarios::speed::measure(&scenario, 3..=3);
    assert_eq!((speed.runs, speed.nodes), (1, 5));
    let frames = speed.frames;
    // Discovery probes are datagrams; consensus and fenced decisions ride streams.
    assert!(frames.datagrams > 0 && frames.stream > frames.datagrams, "{frames:?}");
    // Every frame has a body under its tag; probe filler and tags are not in it.
    assert!(frames.authenticated_bytes > 40 * frames.total(), "{frames:?}");
    assert!(
        frames.bytes > frames.authenticated_bytes + 32 * frames.total(),
        "{frames:?}"
    );
    // 5 nodes beating to 4 peers every 100 ms for the whole run.
    let beats = (speed.sim_s * 200.0) as u64;
    for floor in [speed.baseline, speed.stream_floor] {
        assert!(floor.frames_sent >= beats, "{floor:?} against {beats}");
        assert!(floor.frames_received + 20 >= floor.frames_sent, "{floor:?}");
    }
    assert!(speed.mac_us_per_frame > 0.0);
    assert!(speed.ratio_ceiling().is_finite() && speed.ratio().is_finite());
}

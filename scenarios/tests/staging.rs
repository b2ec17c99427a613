//! The `staging` scenario's faults land where they are meant to: every run damages a
//! copy (which ends failed, never resident) and kills a node mid-copy (which resumes
//! where it stopped after its restart).
//!
//! proves: F7, D1
#![cfg(madsim)]

use psionic_core::Event;
use psionic_core::staging::{StagingEvent, StagingFailure};
use psionic_scenarios::{load, runner};
use psionic_sim::{Fault, Outcome, TraceKind, TraceRecord};

fn staging_events(records: &[TraceRecord], node: &str) -> Vec<(u64, StagingEvent)> {
    records
        .iter()
        .filter(|record| record.node == node)
        .filter_map(|record| match &record.kind {
            TraceKind::Event {
                event: Event::Staging(event),
            } => Some((record.at_ms, event.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn every_run_fails_the_damaged_copy_and_resumes_the_interrupted_one() {
    let scenario = load("staging").unwrap();
    for seed in 1..=10 {
        let run = runner::run(&scenario, seed, None);
        assert_eq!(
            run.report.outcome,
            Outcome::Pass,
            "seed {seed}: {:#?}",
            run.report.violations
        );
        let records = run.trace.records();
        let events = staging_events(&records, "n4");
        let damaged = events.iter().any(|(_, event)| {
            matches!(
                event,
                StagingEvent::StagingFailed {
                    failure: StagingFailure::DigestMismatch { .. },
                    ..
                }
            )
        });
        assert!(damaged, "seed {seed}: the damaged copy ends failed: {events:?}");
        let restarts_n4 = |record: &&TraceRecord| matches!(&record.kind, TraceKind::Fault { fault: Fault::Restart { node } } if node == "n4");
        let restarted_ms = records
            .iter()
            .rfind(restarts_n4)
            .map(|record| record.at_ms)
            .expect("n4 restarted");
        let resumed = events.iter().any(|(at_ms, event)| {
            *at_ms > restarted_ms && matches!(event, StagingEvent::StagingFetching { offset, .. } if *offset > 0)
        });
        assert!(
            resumed,
            "seed {seed}: after its restart n4 asks from where it stopped: {events:?}"
        );
    }
}

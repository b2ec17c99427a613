//! Executor-only nodes replicate the log but never vote or lead, through a failover.
//!
//! proves: F1, D1
#![cfg(madsim)]

use psionic_core::ConsensusEvent;
use psionic_core::{Event, NodeId};
use psionic_scenarios::{runner, script};
use psionic_sim::{Outcome, TraceKind};

const WITH_EXECUTORS: &str = r#"
summary = "3 coordinators and 2 executors under load; the leader crashes"
[cluster]
nodes = 5
executors = 2
[[step]]
do = "expect"
condition = "one-leader"
within_ms = 10_000
[[step]]
do = "workload"
rate_per_s = 20
[[step]]
after_ms = 1_000
do = "crash-leader"
within_ms = 10_000
[[step]]
after_ms = 2_000
do = "restart"
node = "killed"
[liveness]
leader_within_ms = 10_000
converge_within_ms = 10_000
"#;

#[test]
fn executors_follow_the_log_and_never_lead() {
    let scenario = script::parse("with-executors", WITH_EXECUTORS).unwrap();
    for seed in 1..=10 {
        let run = runner::run(&scenario, seed, None);
        assert_eq!(
            run.report.outcome,
            Outcome::Pass,
            "seed {seed}: {:#?}",
            run.report.violations
        );
        let records = run.trace.records();
        let executors: Vec<NodeId> = ["n4", "n5"]
            .iter()
            .flat_map(|node| run.trace.started_as(node))
            .collect();
        assert!(executors.len() >= 2, "both executors started");
        let leaders: Vec<NodeId> = records
            .iter()
            .filter_map(|record| match &record.kind {
                TraceKind::Event {
                    event: Event::Consensus(ConsensusEvent::LeaderElected { leader, .. }),
                } => Some(*leader),
                _ => None,
            })
            .collect();
        assert!(!leaders.is_empty());
        assert!(
            leaders.iter().all(|leader| !executors.contains(leader)),
            "seed {seed}: an executor led"
        );
        let executor_applied = records.iter().any(|record| {
            record.node == "n5"
                && matches!(
                    record.kind,
                    TraceKind::Event {
                        event: Event::Consensus(ConsensusEvent::Applied { .. })
                    }
                )
        });
        assert!(executor_applied, "seed {seed}: executors replicate the log");
    }
}

//! Counters the driver keeps beyond what the core reports: leadership changes,
//! elections, proposal outcomes and latency, store sizes.

use psionic_core::ConsensusEvent;
use std::time::Duration;

use psionic_core::{Event, NodeId, RoleKind};

use crate::durable::StoreSizes;

/// Upper bounds (ms) of the proposal latency histogram's buckets; the last is +Inf.
pub const LATENCY_BUCKETS_MS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0,
];

/// A cumulative latency histogram in milliseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencyHistogram {
    /// Observations at or below each bound of [`LATENCY_BUCKETS_MS`] (cumulative).
    pub cumulative: [u64; LATENCY_BUCKETS_MS.len()],
    /// Every observation.
    pub count: u64,
    /// Their sum.
    pub sum_ms: f64,
}

impl LatencyHistogram {
    /// Records one observation.
    pub fn observe(&mut self, latency: Duration) {
        let ms = latency.as_secs_f64() * 1_000.0;
        for (bucket, bound) in self.cumulative.iter_mut().zip(LATENCY_BUCKETS_MS) {
            if ms <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum_ms += ms;
    }
}

/// The driver's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeMetrics {
    /// Times the known leader changed.
    pub leader_changes: u64,
    /// Elections this node stood in.
    pub elections_started: u64,
    /// Proposals made here that committed.
    pub proposals_committed: u64,
    /// Proposals made here that were rejected.
    pub proposals_rejected: u64,
    /// From proposal to outcome, for proposals made here.
    pub proposal_latency: LatencyHistogram,
    /// What the durable store holds.
    pub store: StoreSizes,
    last_leader: Option<NodeId>,
}

impl NodeMetrics {
    /// Counts what `event` says.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::Consensus(ConsensusEvent::LeaderElected { leader, .. }) if self.last_leader != Some(*leader) => {
                self.last_leader = Some(*leader);
                self.leader_changes += 1;
            }
            Event::Consensus(ConsensusEvent::RoleChanged {
                role: RoleKind::Candidate,
                ..
            }) => self.elections_started += 1,
            Event::Consensus(ConsensusEvent::ProposalCommitted { .. }) => self.proposals_committed += 1,
            Event::Consensus(ConsensusEvent::ProposalRejected { .. }) => self.proposals_rejected += 1,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative() {
        let mut histogram = LatencyHistogram::default();
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_millis(30));
        histogram.observe(Duration::from_secs(60));
        assert_eq!(histogram.cumulative[..4], [0, 0, 1, 1]);
        assert_eq!(histogram.cumulative[5], 2);
        assert_eq!(histogram.cumulative[11], 2, "the minute is only in +Inf");
        assert_eq!(histogram.count, 3);
    }

    #[test]
    fn a_leader_change_counts_once_per_new_leader() {
        let mut metrics = NodeMetrics::default();
        let elected = |leader: u8, term| {
            Event::Consensus(ConsensusEvent::LeaderElected {
                term,
                leader: NodeId([leader; 16]),
            })
        };
        metrics.on_event(&elected(1, 1));
        metrics.on_event(&elected(1, 1));
        metrics.on_event(&elected(2, 2));
        assert_eq!(metrics.leader_changes, 2);
    }
}

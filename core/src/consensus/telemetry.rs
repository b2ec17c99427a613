//! What consensus carries for device telemetry without holding it: a follower's append
//! answer takes a report, and the leader hands each member's report on.

use crate::backend::{HeartbeatReport, ReadinessByBackend};
use crate::identity::NodeId;
use crate::time::Instant;

/// The keeper of device telemetry, borrowed by consensus while it handles a message.
pub trait HeartbeatTelemetry {
    /// The report a follower attaches to its append answer to `leader` in `term`;
    /// `recorded` is the readiness the applied state records for this node.
    fn report_for(
        &mut self,
        now: Instant,
        term: u64,
        leader: NodeId,
        recorded: Option<&ReadinessByBackend>,
    ) -> HeartbeatReport;

    /// Leader: the report a member's append answer carried.
    fn on_report(&mut self, now: Instant, from: NodeId, report: HeartbeatReport);
}

/// No telemetry: consensus driven on its own ([`super::Consensus::step`]) reports none
/// and drops what it hears.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTelemetry;

impl HeartbeatTelemetry for NoTelemetry {
    fn report_for(&mut self, _: Instant, _: u64, _: NodeId, _: Option<&ReadinessByBackend>) -> HeartbeatReport {
        HeartbeatReport::default()
    }

    fn on_report(&mut self, _: Instant, _: NodeId, _: HeartbeatReport) {}
}

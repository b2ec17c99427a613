//! The node's executing side: accepted assignments become jobs for the driver, their
//! outcomes go back to the coordinator, and runs no coordinator can take are stopped.

use super::Node;
use crate::consensus::Decision;
use crate::dispatch::{ExecutionReport, RequestOutcome};
use crate::identity::RequestId;
use crate::io::{Event, Output};
use crate::serving::Accepted;
use crate::time::Instant;

impl Node {
    /// Executing node: the job of `request` ended with `report` (see
    /// [`Output::RunJob`]). It is reported to the newest coordinator that assigned it;
    /// an outcome of a job stopped since is dropped.
    pub fn execution_ended(&mut self, now: Instant, request: RequestId, report: ExecutionReport) {
        if let Some(authority) = self.executor.ended(request, &report) {
            self.consensus
                .report_execution(now, authority.leader, request, authority.fence, report);
        }
        self.finish(now);
    }

    /// Acts on an event consensus reported: runs or stops jobs, answers an assignment
    /// of a request completed here.
    pub(super) fn serve_event(&mut self, now: Instant, event: &Event) {
        match event {
            Event::DecisionAccepted {
                authority,
                decision: Decision::Assign(assignment),
            } => match self.executor.accept(self.node_id, *authority, assignment) {
                Accepted::Run(job) => self.outputs.push_back(Output::RunJob(job)),
                Accepted::CompletedHere(report) => {
                    let (leader, fence) = (authority.leader, authority.fence);
                    self.consensus
                        .report_execution(now, leader, assignment.request, fence, report);
                }
                Accepted::Readdressed | Accepted::NotHere => {}
            },
            Event::DecisionAccepted {
                decision: Decision::Cancel { request },
                ..
            } => self.stop_job(*request),
            // A request its coordinator (this node) gave up stops here too.
            Event::RequestFinished {
                request,
                outcome: RequestOutcome::Refused { .. },
            } => self.stop_job(*request),
            _ => {}
        }
    }

    /// After each input: tells a new leader of the completions kept here, stops the
    /// runs of deposed coordinators, and reports the queue depth when it moved.
    pub(super) fn serving_upkeep(&mut self, now: Instant) {
        let leader = self.consensus.leader();
        for (request, report) in self.executor.completions_for(leader) {
            let leader = leader.expect("completions are offered to a known leader");
            self.consensus.forward_completed(now, leader, request, report);
        }
        let term = self.consensus.hard_state().term;
        for request in self.executor.stale(term) {
            self.outputs.push_back(Output::StopJob { request });
        }
        let depth = self.executor.depth();
        if self.reported_depth != depth {
            self.reported_depth = depth;
            self.consensus.set_queue_depth(now, depth);
        }
    }

    fn stop_job(&mut self, request: RequestId) {
        if self.executor.stop(request) {
            self.outputs.push_back(Output::StopJob { request });
        }
    }
}

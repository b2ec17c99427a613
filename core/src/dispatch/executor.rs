//! The executing node's side: checking an assignment against its own facts, and
//! sending the outcome back to the coordinator that issued it.

use super::{Assignment, AssignmentRefusal, ExecutionReport};
use crate::backend::BackendReadiness;
use crate::consensus::{Authority, Consensus, Effect, Fence, RaftMessage};
use crate::identity::{NodeId, RequestId};
use crate::io::Event;
use crate::state::Residency;
use crate::time::Instant;

impl Consensus {
    /// Whether this node should run `assignment`: the plan matches its digest,
    /// selects this node, and names a backend, device and model this node holds.
    pub(crate) fn check_assignment(&self, assignment: &Assignment) -> Result<(), AssignmentRefusal> {
        let computed = assignment.plan.digest();
        if computed != assignment.plan_digest {
            return Err(AssignmentRefusal::PlanDigest {
                claimed: assignment.plan_digest,
                computed,
            });
        }
        let executing = assignment.plan.executing();
        let Some(mine) = executing.iter().find(|selected| selected.node == self.id) else {
            let selected = executing.iter().map(|selected| selected.node).collect();
            return Err(AssignmentRefusal::NotSelected { selected });
        };
        let backend = mine.backend;
        let Some(BackendReadiness::Ready { devices, .. }) = self.devices.local.readiness.get(&backend) else {
            return Err(AssignmentRefusal::BackendNotReady { backend });
        };
        if let Some(ordinal) = mine.device
            && !devices.iter().any(|device| device.ordinal == ordinal)
        {
            return Err(AssignmentRefusal::NoDevice { backend, ordinal });
        }
        let residency = self
            .state
            .residency
            .get(&self.id)
            .and_then(|artifacts| artifacts.get(&assignment.plan.artifact()))
            .copied();
        if residency != Some(Residency::Resident) {
            return Err(AssignmentRefusal::ArtifactNotResident { residency });
        }
        Ok(())
    }

    /// Sends `report` on `request` to the coordinator that issued it under `fence`
    /// (handled here when this node is that coordinator).
    pub(crate) fn report_execution(
        &mut self,
        now: Instant,
        coordinator: NodeId,
        request: RequestId,
        fence: Fence,
        report: ExecutionReport,
    ) {
        self.push_event(Event::ExecutionEnded {
            request,
            coordinator,
            completed: matches!(report, ExecutionReport::Completed { .. }),
        });
        if coordinator == self.id {
            return self.on_execution_report(now, coordinator, request, fence, report);
        }
        self.effects.push(Effect::Send {
            to: coordinator,
            message: RaftMessage::Execution { request, fence, report },
        });
    }

    /// Sends a completion made under an earlier coordinator to `leader`, which may
    /// not know it (handled here when this node leads).
    pub(crate) fn forward_completed(
        &mut self,
        now: Instant,
        leader: NodeId,
        request: RequestId,
        report: ExecutionReport,
    ) {
        let fence = self.fence_floor();
        if leader == self.id {
            return self.on_execution_report(now, leader, request, fence, report);
        }
        self.effects.push(Effect::Send {
            to: leader,
            message: RaftMessage::Execution { request, fence, report },
        });
    }

    /// An assignment refused before running: the refusal goes back to its issuer.
    pub(crate) fn refuse_assignment(&mut self, authority: &Authority, request: RequestId, refusal: AssignmentRefusal) {
        let now = self.now;
        self.report_execution(
            now,
            authority.leader,
            request,
            authority.fence,
            ExecutionReport::Refused(refusal),
        );
    }
}

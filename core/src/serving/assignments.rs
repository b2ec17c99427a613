//! The executing node's side: checking an assignment against its own facts, running
//! it once, and reporting how it ended to the coordinator that can still take it.

use super::ClusterView;
use super::ServingEvent;
use super::executor::Accepted;
use super::{Decision, DispatchMessage, Serving, ServingEffect};
use crate::backend::BackendReadiness;
use crate::consensus::{Authority, Fence};
use crate::dispatch::Token;
use crate::dispatch::{Assignment, AssignmentRefusal, ExecutionReport};
use crate::identity::{NodeId, RequestId};
use crate::state::Residency;

impl Serving {
    /// A decision whose authority consensus admitted.
    pub(crate) fn on_decision(&mut self, raft: ClusterView<'_>, authority: Authority, decision: Decision) {
        match &decision {
            Decision::Assign(assignment) => {
                if let Err(refusal) = check_assignment(raft, assignment) {
                    return self.refuse_assignment(&authority, assignment.request, refusal);
                }
                match self.executor.accept(raft.id(), authority, assignment) {
                    Accepted::Run(job) => self.effects.push(ServingEffect::RunJob(job)),
                    Accepted::CompletedHere(report) => {
                        self.report_execution(authority.leader, assignment.request, authority.fence, report);
                    }
                    Accepted::Readdressed | Accepted::NotHere => {}
                }
            }
            Decision::Cancel { request } => self.stop_job(*request),
            Decision::Directive { .. } => {}
        }
        self.event(ServingEvent::DecisionAccepted { authority, decision });
    }

    /// An assignment refused before running: the refusal goes back to its issuer.
    pub(crate) fn refuse_assignment(&mut self, authority: &Authority, request: RequestId, refusal: AssignmentRefusal) {
        let report = ExecutionReport::Refused(refusal);
        self.report_execution(authority.leader, request, authority.fence, report);
    }

    /// The job of `request` ended with `report`: reported to the newest coordinator
    /// that assigned it, dropped when it was stopped since.
    pub(crate) fn execution_ended(&mut self, request: RequestId, report: ExecutionReport) {
        if let Some(authority) = self.executor.ended(request, &report) {
            self.report_execution(authority.leader, request, authority.fence, report);
        }
    }

    /// The job of `request` produced `tokens`, the first of them its token number
    /// `offset`: sent on to the coordinator of a streaming run (dropped for one that
    /// no longer runs here, or does not stream).
    pub(crate) fn execution_progress(&mut self, request: RequestId, offset: u32, tokens: Vec<Token>) {
        if let Some(authority) = self.executor.streaming_to(request) {
            let fence = authority.fence;
            let tokens = DispatchMessage::Tokens {
                request,
                fence,
                offset,
                tokens,
            };
            self.send(authority.leader, tokens);
        }
    }

    /// After each input: tells a new leader of the completions kept here, and stops the
    /// runs of deposed coordinators.
    pub(crate) fn executor_upkeep(&mut self, raft: ClusterView<'_>) {
        let leader = raft.leader();
        let fence = raft.fence_seen();
        for (request, report) in self.executor.completions_for(leader) {
            let leader = leader.expect("completions are offered to a known leader");
            self.send(leader, DispatchMessage::Execution { request, fence, report });
        }
        for request in self.executor.stale(raft.hard_state().term) {
            self.effects.push(ServingEffect::StopJob(request));
        }
    }

    /// Stops this node's run of `request`, if it has one.
    pub(crate) fn stop_job(&mut self, request: RequestId) {
        if self.executor.stop(request) {
            self.effects.push(ServingEffect::StopJob(request));
        }
    }

    /// Sends `report` on `request` to the coordinator that issued it under `fence`.
    fn report_execution(&mut self, coordinator: NodeId, request: RequestId, fence: Fence, report: ExecutionReport) {
        self.event(ServingEvent::ExecutionEnded {
            request,
            coordinator,
            completed: matches!(report, ExecutionReport::Completed { .. }),
        });
        self.send(coordinator, DispatchMessage::Execution { request, fence, report });
    }
}

/// Whether this node should run `assignment`: the plan matches its digest, selects this
/// node, and names a backend, device and model this node holds.
fn check_assignment(raft: ClusterView<'_>, assignment: &Assignment) -> Result<(), AssignmentRefusal> {
    let computed = assignment.plan.digest();
    if computed != assignment.plan_digest {
        return Err(AssignmentRefusal::PlanDigest {
            claimed: assignment.plan_digest,
            computed,
        });
    }
    let executing = assignment.plan.executing();
    let Some(mine) = executing.iter().find(|selected| selected.node == raft.id()) else {
        let selected = executing.iter().map(|selected| selected.node).collect();
        return Err(AssignmentRefusal::NotSelected { selected });
    };
    let backend = mine.backend;
    let Some(BackendReadiness::Ready { devices, .. }) = raft.local_readiness().get(&backend) else {
        return Err(AssignmentRefusal::BackendNotReady { backend });
    };
    if let Some(ordinal) = mine.device
        && !devices.iter().any(|device| device.ordinal == ordinal)
    {
        return Err(AssignmentRefusal::NoDevice { backend, ordinal });
    }
    let residency = raft
        .state()
        .residency
        .get(&raft.id())
        .and_then(|artifacts| artifacts.get(&assignment.plan.artifact()))
        .copied();
    if residency != Some(Residency::Resident) {
        return Err(AssignmentRefusal::ArtifactNotResident { residency });
    }
    Ok(())
}

//! Serving in the driver: assignments this node accepted run on its executor host and
//! their outcome goes back to the coordinator that issued them; requests submitted
//! here (as leader) are followed to their outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use psionic_core::consensus::{Authority, Decision};
use psionic_core::dispatch::{Assignment, ExecutionReport, RequestOutcome};
use psionic_core::plan::{ExecutionTopologyPlan, ServingPolicy};
use psionic_core::state::ClusterState;
use psionic_core::{Digest, Event, NodeId, RequestId};
use tokio::sync::{mpsc, oneshot};

use crate::driver::Request;
use crate::execute::{Executor, ExecutorHost, Job};

/// Completions remembered for new leaders.
const COMPLETED_REMEMBERED_MAX: usize = 4_096;

/// A request completed here.
struct Completed {
    /// Leaders told of it.
    told: BTreeSet<NodeId>,
    plan: ExecutionTopologyPlan,
    tokens: Vec<u8>,
    result_digest: Digest,
}

/// The driver's serving state.
pub(crate) struct Serving {
    node_id: NodeId,
    host: ExecutorHost,
    /// Where finished runs are reported (the driver's own request channel).
    reports: mpsc::Sender<Request>,
    /// Requests submitted here, awaiting their outcome.
    submitted: BTreeMap<RequestId, Vec<oneshot::Sender<RequestOutcome>>>,
    /// Assignments queued or running here: the authority they came under, the plan.
    running: BTreeMap<RequestId, (Authority, ExecutionTopologyPlan)>,
    /// Requests completed here: the coordinator told, the plan, the result, and the
    /// leaders told since (bounded).
    completed: BTreeMap<RequestId, Completed>,
    /// The leader last seen.
    leader: Option<NodeId>,
    /// The serving policy the host runs under (none: not set yet).
    policy: Option<ServingPolicy>,
}

impl Serving {
    pub fn new(node_id: NodeId, executor: Arc<dyn Executor>, reports: mpsc::Sender<Request>) -> Self {
        Self {
            node_id,
            host: ExecutorHost::start(executor, ServingPolicy::default()),
            reports,
            submitted: BTreeMap::new(),
            running: BTreeMap::new(),
            completed: BTreeMap::new(),
            leader: None,
            policy: None,
        }
    }

    /// Runs the host under the serving policy `state` has in force, when it changed.
    pub fn follow_policy(&mut self, state: &ClusterState) {
        let policy = ServingPolicy::from_state(state);
        if Some(policy) == self.policy {
            return;
        }
        self.policy = Some(policy);
        self.host.set_policy(policy);
    }

    /// Requests queued or running here.
    pub fn queue_depth(&self) -> u32 {
        self.host.queue_depth()
    }

    /// Follows `request` until it finishes.
    pub fn follow(&mut self, request: RequestId) -> oneshot::Receiver<RequestOutcome> {
        let (sender, receiver) = oneshot::channel();
        self.submitted.entry(request).or_default().push(sender);
        receiver
    }

    /// Acts on a core event: runs an accepted assignment, or answers those following
    /// a finished request. Returns whether the queue depth may have changed.
    pub fn on_event(&mut self, event: &Event) -> bool {
        match event {
            Event::DecisionAccepted {
                authority,
                decision: Decision::Assign(assignment),
            } => {
                self.run(*authority, assignment);
                true
            }
            Event::DecisionAccepted {
                decision: Decision::Cancel { request },
                ..
            } => self.cancel(*request),
            Event::RequestFinished { request, outcome } => {
                for follower in self.submitted.remove(request).unwrap_or_default() {
                    let _ = follower.send(outcome.clone());
                }
                // A request its coordinator gave up stops here too.
                matches!(outcome, RequestOutcome::Refused { .. }) && self.cancel(*request)
            }
            _ => false,
        }
    }

    /// An assignment ended here and `report` went to its coordinator.
    pub fn ended(&mut self, request: RequestId, report: &ExecutionReport) {
        let Some((authority, plan)) = self.running.remove(&request) else {
            return;
        };
        if let ExecutionReport::Completed { tokens, result_digest } = report {
            if self.completed.len() >= COMPLETED_REMEMBERED_MAX
                && let Some(oldest) = self.completed.keys().next().copied()
            {
                self.completed.remove(&oldest);
            }
            let completed = Completed {
                told: [authority.leader].into(),
                plan,
                tokens: tokens.clone(),
                result_digest: *result_digest,
            };
            self.completed.insert(request, completed);
        }
    }

    /// When the leader changed to `leader`: the completions it has not been told of,
    /// as `CompletedEarlier` reports (a coordinator cut away may never have heard).
    pub fn completions_for(&mut self, leader: Option<NodeId>) -> Vec<(NodeId, RequestId, ExecutionReport)> {
        if leader == self.leader {
            return Vec::new();
        }
        self.leader = leader;
        let Some(leader) = leader else { return Vec::new() };
        self.completed
            .iter_mut()
            .filter_map(|(request, completed)| completed.told.insert(leader).then_some((request, completed)))
            .map(|(request, completed)| {
                let report = ExecutionReport::CompletedEarlier {
                    tokens: completed.tokens.clone(),
                    result_digest: completed.result_digest,
                    plan: Box::new(completed.plan.clone()),
                };
                (leader, *request, report)
            })
            .collect()
    }

    /// Stops every assignment issued under a fence older than `term`'s: a newer
    /// coordinator exists, so its issuer can no longer accept the result. Returns
    /// whether any was stopped.
    pub fn cancel_stale(&mut self, term: u64) -> bool {
        let stale: Vec<RequestId> = self
            .running
            .iter()
            .filter(|(_, (authority, _))| authority.fence.0 < term)
            .map(|(request, _)| *request)
            .collect();
        let mut cancelled = false;
        for request in stale {
            cancelled |= self.cancel(request);
        }
        cancelled
    }

    fn cancel(&mut self, request: RequestId) -> bool {
        self.running.remove(&request).is_some() && self.host.cancel(request)
    }

    /// Queues the assignment's job; a task reports its outcome when it ends.
    fn run(&mut self, authority: Authority, assignment: &Assignment) {
        let Some(selected) = assignment
            .plan
            .executing()
            .into_iter()
            .find(|selected| selected.node == self.node_id)
        else {
            return;
        };
        let job = Job {
            request: assignment.request,
            artifact: assignment.plan.artifact(),
            backend: selected.backend,
            device: selected.device,
            prompt: assignment.prompt.clone(),
            max_tokens: assignment.max_tokens,
        };
        let request = assignment.request;
        let submitted = self.host.submit(job, assignment.class);
        self.running.insert(request, (authority, assignment.plan.clone()));
        let reports = self.reports.clone();
        tokio::spawn(async move {
            let report = match submitted {
                Err(refusal) => ExecutionReport::Failed(refusal.into()),
                Ok(outcome) => match outcome.await {
                    Ok(Ok(completion)) => ExecutionReport::Completed {
                        tokens: completion.tokens,
                        result_digest: completion.result_digest,
                    },
                    Ok(Err(error)) => ExecutionReport::Failed(error),
                    Err(_) => return,
                },
            };
            let _ = reports
                .send(Request::ReportExecution {
                    authority,
                    request,
                    report,
                })
                .await;
        });
    }
}

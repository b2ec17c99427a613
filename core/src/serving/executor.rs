//! The executing node's book: runs in progress, with the authority each was assigned
//! under, and completions kept for coordinators that may not have heard of them.

use crate::dispatch::Token;
use std::collections::{BTreeMap, BTreeSet};

use super::Job;
use super::kept::Kept;
use crate::consensus::Authority;
use crate::digest::Digest;
use crate::dispatch::{Assignment, ExecutionReport};
use crate::identity::{NodeId, RequestId};
use crate::plan::ExecutionTopologyPlan;

/// Completions kept for new leaders at most (the oldest request id goes first).
pub const COMPLETED_KEPT_MAX: usize = 4_096;

/// A run between its assignment and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Running {
    /// The newest authority that assigned it: its outcome goes to that coordinator.
    authority: Authority,
    plan: ExecutionTopologyPlan,
    /// Whether its tokens go to the coordinator as they are produced.
    stream: bool,
}

/// A run that completed here.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Completed {
    /// Leaders told of it.
    told: BTreeSet<NodeId>,
    plan: ExecutionTopologyPlan,
    tokens: Vec<Token>,
    result_digest: Digest,
}

impl Completed {
    fn report(&self) -> ExecutionReport {
        ExecutionReport::Completed {
            tokens: self.tokens.clone(),
            result_digest: self.result_digest,
        }
    }

    fn report_earlier(&self) -> ExecutionReport {
        ExecutionReport::CompletedEarlier {
            tokens: self.tokens.clone(),
            result_digest: self.result_digest,
            plan: Box::new(self.plan.clone()),
        }
    }
}

/// What an accepted assignment asks of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// Run this job.
    Run(Job),
    /// It already runs here; its outcome now goes to the newer coordinator.
    Readdressed,
    /// It completed here: report this to the coordinator at once.
    CompletedHere(ExecutionReport),
    /// The plan does not run it here (checked before; nothing to do).
    NotHere,
}

/// Runs and completions of one executing node (volatile: a restart forgets them, and
/// its driver's executor forgets its runs with it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ExecutorBook {
    running: BTreeMap<RequestId, Running>,
    completed: Kept<Completed, COMPLETED_KEPT_MAX>,
    /// The leader completions were last offered to.
    leader: Option<NodeId>,
}

impl ExecutorBook {
    /// Takes an assignment `node` accepted under `authority`.
    pub fn accept(&mut self, node: NodeId, authority: Authority, assignment: &Assignment) -> Accepted {
        let request = assignment.request;
        if let Some(completed) = self.completed.get_mut(&request) {
            completed.told.insert(authority.leader);
            return Accepted::CompletedHere(completed.report());
        }
        if let Some(running) = self.running.get_mut(&request) {
            if authority.fence >= running.authority.fence {
                running.authority = authority;
                running.stream = assignment.stream;
            }
            return Accepted::Readdressed;
        }
        let plan = &assignment.plan;
        let Some(selected) = plan.executing().into_iter().find(|selected| selected.node == node) else {
            return Accepted::NotHere;
        };
        let job = Job {
            request,
            artifact: plan.artifact(),
            backend: selected.backend,
            device: selected.device,
            prompt: assignment.prompt.clone(),
            max_tokens: assignment.max_tokens,
            class: assignment.class,
            stream: assignment.stream,
            sampling: assignment.sampling,
        };
        let running = Running {
            authority,
            plan: plan.clone(),
            stream: assignment.stream,
        };
        self.running.insert(request, running);
        Accepted::Run(job)
    }

    /// The authority `request`'s tokens go to as they are produced: none when it does
    /// not run here, or does not stream.
    pub fn streaming_to(&self, request: RequestId) -> Option<Authority> {
        let running = self.running.get(&request)?;
        running.stream.then_some(running.authority)
    }

    /// Forgets `request`'s run (its coordinator cancelled or gave it up). Returns
    /// whether it was running.
    pub fn stop(&mut self, request: RequestId) -> bool {
        self.running.remove(&request).is_some()
    }

    /// `request`'s run ended with `report`: the authority to report it to, or `None`
    /// when it no longer runs here (stopped).
    pub fn ended(&mut self, request: RequestId, report: &ExecutionReport) -> Option<Authority> {
        let running = self.running.remove(&request)?;
        if let ExecutionReport::Completed { tokens, result_digest } = report {
            self.keep(request, running.authority.leader, running.plan, tokens, *result_digest);
        }
        Some(running.authority)
    }

    fn keep(
        &mut self,
        request: RequestId,
        told: NodeId,
        plan: ExecutionTopologyPlan,
        tokens: &[Token],
        digest: Digest,
    ) {
        let completed = Completed {
            told: [told].into(),
            plan,
            tokens: tokens.to_vec(),
            result_digest: digest,
        };
        self.completed.insert(request, completed);
    }

    /// When the leader is now `leader`: the completions it was not told of, as
    /// `CompletedEarlier` reports (none when the leader did not change).
    pub fn completions_for(&mut self, leader: Option<NodeId>) -> Vec<(RequestId, ExecutionReport)> {
        if leader == self.leader {
            return Vec::new();
        }
        self.leader = leader;
        let Some(leader) = leader else { return Vec::new() };
        self.completed
            .iter_mut()
            .filter_map(|(request, completed)| {
                completed
                    .told
                    .insert(leader)
                    .then(|| (*request, completed.report_earlier()))
            })
            .collect()
    }

    /// Forgets and returns the runs assigned under a fence older than `term`'s.
    pub fn stale(&mut self, term: u64) -> Vec<RequestId> {
        let stale: Vec<RequestId> = self
            .running
            .iter()
            .filter(|(_, running)| running.authority.fence.0 < term)
            .map(|(request, _)| *request)
            .collect();
        for request in &stale {
            self.running.remove(request);
        }
        stale
    }

    /// Runs in progress.
    pub fn depth(&self) -> u32 {
        u32::try_from(self.running.len()).unwrap_or(u32::MAX)
    }
}

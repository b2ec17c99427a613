//! Serving in the driver: the jobs the core hands out run on this node's executor host
//! and their outcomes go back to the core; requests submitted here (as leader) are
//! followed to their outcome. What runs, and whom it is reported to, the core decides.

use psionic_core::ServingEvent;
use std::collections::BTreeMap;
use std::sync::Arc;

use psionic_core::dispatch::{ExecutionReport, RequestOutcome};
use psionic_core::plan::ServingPolicy;
use psionic_core::serving::Job;
use psionic_core::state::ClusterState;
use psionic_core::{Event, RequestId};
use tokio::sync::{mpsc, oneshot};

use crate::driver::{Request, SubmitReply, TokenSink};
use crate::execute::{Executor, ExecutorHost};
use crate::runtime::TokenBatch;

/// The driver's serving state.
pub(crate) struct Serving {
    host: ExecutorHost,
    /// Where finished runs are reported (the driver's own request channel).
    reports: mpsc::Sender<Request>,
    /// Requests submitted here, awaiting their outcome.
    submitted: BTreeMap<RequestId, Vec<oneshot::Sender<RequestOutcome>>>,
    /// Requests forwarded to the leader, awaiting their placement.
    placing: BTreeMap<RequestId, SubmitReply>,
    /// Streaming requests taken here: where their tokens go as they arrive (one sink
    /// per submission of the id).
    watching: BTreeMap<RequestId, Vec<TokenSink>>,
    /// The serving policy the host runs under (none: not set yet).
    policy: Option<ServingPolicy>,
}

impl Serving {
    pub fn new(executor: Arc<dyn Executor>, reports: mpsc::Sender<Request>) -> Self {
        Self {
            host: ExecutorHost::start(executor, ServingPolicy::default()),
            reports,
            submitted: BTreeMap::new(),
            placing: BTreeMap::new(),
            watching: BTreeMap::new(),
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

    /// Follows `request` until it finishes.
    pub fn follow(&mut self, request: RequestId) -> oneshot::Receiver<RequestOutcome> {
        let (sender, receiver) = oneshot::channel();
        self.submitted.entry(request).or_default().push(sender);
        receiver
    }

    /// Hands `request`'s tokens to `sink` as they arrive, until it finishes.
    pub fn watch(&mut self, request: RequestId, sink: TokenSink) {
        self.watching.entry(request).or_default().push(sink);
    }

    /// Answers `reply` once the leader `request` was forwarded to placed it.
    pub fn await_placement(&mut self, request: RequestId, reply: SubmitReply) {
        self.placing.insert(request, reply);
    }

    /// Answers those awaiting a forwarded request's placement, and those following a
    /// request that finished.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::Serving(ServingEvent::RequestPlaced { request, placement }) => {
                if let Some(reply) = self.placing.remove(request) {
                    let _ = reply.send(Ok((Some((**placement).clone()), self.follow(*request))));
                }
            }
            Event::Serving(ServingEvent::RequestSubmitRefused { request, refusal }) => {
                self.watching.remove(request);
                if let Some(reply) = self.placing.remove(request) {
                    let _ = reply.send(Err(refusal.clone()));
                }
            }
            Event::Serving(ServingEvent::RequestFinished { request, outcome }) => {
                // A forwarded request whose placement was lost on the way: its outcome
                // answers the submission.
                if let Some(reply) = self.placing.remove(request) {
                    let _ = reply.send(Ok((None, self.follow(*request))));
                }
                for follower in self.submitted.remove(request).unwrap_or_default() {
                    let _ = follower.send(outcome.clone());
                }
                self.watching.remove(request);
            }
            Event::Serving(ServingEvent::TokensProduced {
                request,
                node,
                offset,
                tokens,
            }) => {
                let batch = TokenBatch {
                    node: *node,
                    offset: *offset,
                    tokens: tokens.clone(),
                };
                if let Some(sinks) = self.watching.get_mut(request) {
                    sinks.retain(|sink| sink.send(batch.clone()).is_ok());
                    if sinks.is_empty() {
                        self.watching.remove(request);
                    }
                }
            }
            _ => {}
        }
    }

    /// Stops `request`'s job before its next step.
    pub fn stop(&mut self, request: RequestId) {
        self.host.cancel(request);
    }

    /// Queues `job`; a task hands its outcome back to the driver when it ends, and
    /// another a streaming job's tokens as they are produced.
    pub fn run(&mut self, job: Job) {
        let request = job.request;
        let (progress, passing) = match job.stream {
            true => {
                let (progress, produced) = mpsc::unbounded_channel();
                let passing = tokio::spawn(pass_on_tokens(request, produced, self.reports.clone()));
                (Some(progress), Some(passing))
            }
            false => (None, None),
        };
        let submitted = self.host.submit_with(job, progress);
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
            // Every token produced reaches the core before the outcome does (the host
            // drops the job's progress sender once it ended).
            if let Some(passing) = passing {
                let _ = passing.await;
            }
            let _ = reports.send(Request::ExecutionEnded { request, report }).await;
        });
    }
}

/// Hands a streaming job's tokens to the driver, those produced since the last
/// hand-over in one batch.
async fn pass_on_tokens(
    request: RequestId,
    mut produced: mpsc::UnboundedReceiver<(u32, psionic_core::dispatch::Token)>,
    reports: mpsc::Sender<Request>,
) {
    while let Some((offset, first)) = produced.recv().await {
        let mut tokens = vec![first];
        while let Ok((_, token)) = produced.try_recv() {
            tokens.push(token);
        }
        let progress = Request::ExecutionProgress {
            request,
            offset,
            tokens,
        };
        if reports.send(progress).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use psionic_core::dispatch::{RequestOutcome, RequestRefusal};
    use psionic_core::{Event, RequestId, ServingEvent};
    use tokio::sync::{mpsc, oneshot};

    use super::Serving;
    use crate::execute::ReferenceExecutor;

    /// A forwarded request whose placement never arrived is answered by its outcome.
    #[tokio::test]
    async fn a_forwarded_submission_whose_placement_was_lost_is_answered_by_its_outcome() {
        let (reports, _) = mpsc::channel(1);
        let mut serving = Serving::new(Arc::new(ReferenceExecutor::cpu()), reports);
        let request = RequestId([9; 16]);
        let (reply, answer) = oneshot::channel();
        serving.await_placement(request, reply);
        let outcome = RequestOutcome::Refused {
            refusal: RequestRefusal::CoordinatorDeposed,
        };
        serving.on_event(&Event::Serving(ServingEvent::RequestFinished {
            request,
            outcome: outcome.clone(),
        }));
        let answered = tokio::time::timeout(std::time::Duration::from_secs(5), answer).await;
        let (placement, ended) = answered.expect("answered at once").expect("a reply").expect("accepted");
        assert_eq!(placement, None, "no placement came");
        assert_eq!(ended.await.expect("the outcome"), outcome);
    }
}

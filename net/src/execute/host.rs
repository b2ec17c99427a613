//! The executor host: one worker runs queued steps in the serving policy's order;
//! each request id runs at most once (a repeat gets the first run's outcome).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use psionic_core::RequestId;
use psionic_core::plan::{Phase, QueueRefusal, ServingPolicy, ServingQueue};
use tokio::sync::{Notify, mpsc, oneshot};

use super::{Completion, Execution, ExecutionError, Executor, Job};
use crate::stream::AbortOnDrop;

/// How a request ended: its completion, or why it stopped (cancellation included).
pub type Outcome = Result<Completion, ExecutionError>;

/// The outcome of a submitted request, when it ends.
pub type Submitted = oneshot::Receiver<Outcome>;

/// Where a streaming job's tokens go as each is produced: its number and the token.
pub type Progress = mpsc::UnboundedSender<(u32, super::Token)>;

/// Work waiting in the queue.
enum Work {
    Prefill(Job, u8, Option<Progress>),
    Decode {
        execution: Box<dyn Execution>,
        tokens: Vec<super::Token>,
        max_tokens: u32,
        class: u8,
        progress: Option<Progress>,
    },
}

#[derive(Default)]
struct Book {
    watchers: BTreeMap<RequestId, Vec<oneshot::Sender<Outcome>>>,
    cancelled: BTreeSet<RequestId>,
}

struct Shared {
    queue: Mutex<(ServingQueue<Work>, Book)>,
    wake: Notify,
}

/// Queues and runs requests on an [`Executor`].
pub struct ExecutorHost {
    shared: Arc<Shared>,
    _worker: AbortOnDrop,
}

impl std::fmt::Debug for ExecutorHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorHost")
            .field("queue_depth", &self.queue_depth())
            .finish_non_exhaustive()
    }
}

impl ExecutorHost {
    /// Starts the worker for `executor` under `policy`.
    pub fn start(executor: Arc<dyn Executor>, policy: ServingPolicy) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new((ServingQueue::new(policy), Book::default())),
            wake: Notify::new(),
        });
        let worker = AbortOnDrop(tokio::spawn(run(executor, shared.clone())));
        Self {
            shared,
            _worker: worker,
        }
    }

    /// Queues `job` in its priority class. A request id queued or running already is
    /// not queued twice: the receiver gets that run's outcome. (The node's core hands a
    /// request to its executor at most once a life; the host keeps no outcomes.)
    pub fn submit(&self, job: Job) -> Result<Submitted, QueueRefusal> {
        self.submit_with(job, None)
    }

    /// As [`Self::submit`], handing each token to `progress` as it is produced (a
    /// repeat of a queued or running request streams nothing more).
    pub fn submit_with(&self, job: Job, progress: Option<Progress>) -> Result<Submitted, QueueRefusal> {
        let class = job.class;
        let (sender, receiver) = oneshot::channel();
        let mut guard = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let (queue, book) = &mut *guard;
        let request = job.request;
        if let Some(watchers) = book.watchers.get_mut(&request) {
            watchers.push(sender);
            return Ok(receiver);
        }
        queue.push(request, class, Phase::Prefill, Work::Prefill(job, class, progress))?;
        book.watchers.insert(request, vec![sender]);
        drop(guard);
        self.shared.wake.notify_one();
        Ok(receiver)
    }

    /// Stops `request` before its next step. Returns whether it was waiting or running.
    pub fn cancel(&self, request: RequestId) -> bool {
        let mut guard = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let (queue, book) = &mut *guard;
        if !book.watchers.contains_key(&request) {
            return false;
        }
        match queue.cancel(request) {
            Some(work) => {
                let tokens = match work {
                    Work::Prefill(..) => 0,
                    Work::Decode { tokens, .. } => tokens.len() as u32,
                };
                finish(book, request, Err(ExecutionError::Cancelled { tokens }));
            }
            None => {
                book.cancelled.insert(request);
            }
        }
        true
    }

    /// Applies `policy` to work queued from now on.
    pub fn set_policy(&self, policy: ServingPolicy) {
        let mut guard = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
        guard.0.set_policy(policy);
    }

    /// Requests waiting or running.
    pub fn queue_depth(&self) -> u32 {
        let guard = self.shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
        u32::try_from(guard.1.watchers.len()).unwrap_or(u32::MAX)
    }
}

/// The worker: takes the next step, runs it outside the lock, queues what follows.
async fn run(executor: Arc<dyn Executor>, shared: Arc<Shared>) {
    loop {
        let next = {
            let mut guard = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            guard.0.pop()
        };
        let Some((request, _, work)) = next else {
            shared.wake.notified().await;
            continue;
        };
        settle(&shared, request, step(executor.as_ref(), work));
        match executor.step_time() {
            pause if pause.is_zero() => tokio::task::yield_now().await,
            pause => tokio::time::sleep(pause).await,
        }
    }
}

/// Queues the step after `after`, or finishes the request.
fn settle(shared: &Shared, request: RequestId, after: Result<Work, ExecutionError>) {
    let mut guard = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
    let (queue, book) = &mut *guard;
    match after {
        Ok(Work::Decode { tokens, .. }) if book.cancelled.remove(&request) => {
            let tokens = tokens.len() as u32;
            finish(book, request, Err(ExecutionError::Cancelled { tokens }));
        }
        Ok(Work::Decode { tokens, max_tokens, .. }) if tokens.len() as u32 >= max_tokens => {
            finish(book, request, Ok(Completion::of(tokens)));
        }
        Ok(work @ Work::Decode { class, .. }) => queue
            .push(request, class, Phase::Decode, work)
            .expect("a running request is not queued and decode steps are never shed"),
        Ok(Work::Prefill(..)) => unreachable!("a step always leaves a decode behind"),
        Err(error) => finish(book, request, Err(error)),
    }
}

/// Runs one step: the prefill, or one decode step.
fn step(executor: &dyn Executor, work: Work) -> Result<Work, ExecutionError> {
    match work {
        Work::Prefill(job, class, progress) => Ok(Work::Decode {
            execution: executor.prefill(&job)?,
            tokens: Vec::with_capacity(job.max_tokens as usize),
            max_tokens: job.max_tokens,
            class,
            progress,
        }),
        Work::Decode {
            mut execution,
            mut tokens,
            max_tokens,
            class,
            progress,
        } => {
            let token = execution.decode()?;
            if let Some(progress) = &progress {
                let _ = progress.send((tokens.len() as u32, token));
            }
            tokens.push(token);
            Ok(Work::Decode {
                execution,
                tokens,
                max_tokens,
                class,
                progress,
            })
        }
    }
}

fn finish(book: &mut Book, request: RequestId, outcome: Outcome) {
    book.cancelled.remove(&request);
    for watcher in book.watchers.remove(&request).unwrap_or_default() {
        let _ = watcher.send(outcome.clone());
    }
}

#[cfg(test)]
mod tests;

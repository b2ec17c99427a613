use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use psionic_core::backend::{Backend, ExecutionProfile};
use psionic_core::plan::QueueDiscipline;
use psionic_core::{Digest, DigestKind};

use super::*;
use crate::execute::ReferenceExecutor;

/// The reference executor, counting prefills.
#[derive(Debug, Default)]
struct Counting {
    prefills: AtomicU32,
}

impl Executor for Counting {
    fn profiles(&self) -> BTreeMap<Backend, ExecutionProfile> {
        ReferenceExecutor::cpu().profiles()
    }

    fn prefill(&self, job: &Job) -> Result<Box<dyn Execution>, ExecutionError> {
        self.prefills.fetch_add(1, Ordering::SeqCst);
        ReferenceExecutor::cpu().prefill(job)
    }
}

fn job(byte: u8, max_tokens: u32) -> Job {
    Job {
        request: RequestId([byte; 16]),
        artifact: Digest::of_bytes(DigestKind::Policy, b"model"),
        backend: Backend::Cpu,
        device: None,
        prompt: b"hello cluster".to_vec(),
        max_tokens,
        class: 0,
        stream: false,
        sampling: psionic_core::dispatch::Sampling::Greedy,
    }
}

fn classed(job: Job, class: u8) -> Job {
    Job { class, ..job }
}

fn host(executor: Arc<dyn Executor>) -> ExecutorHost {
    let policy = ServingPolicy {
        discipline: QueueDiscipline::Priority { classes: 3 },
        queue_depth_max: 4,
        ..ServingPolicy::default()
    };
    ExecutorHost::start(executor, policy)
}

fn completed(outcome: Outcome) -> Completion {
    outcome.expect("completed")
}

#[tokio::test]
async fn a_request_queued_twice_runs_once_and_the_same_model_and_prompt_give_the_same_tokens() {
    let counting = Arc::new(Counting::default());
    let host = host(counting.clone());
    let twice = [
        host.submit(classed(job(1, 16), 0)).unwrap(),
        host.submit(classed(job(1, 16), 0)).unwrap(),
    ];
    let [first, again] = twice;
    let first = completed(first.await.unwrap());
    assert_eq!(first.tokens.len(), 16);
    assert_eq!(completed(again.await.unwrap()), first);
    assert_eq!(counting.prefills.load(Ordering::SeqCst), 1, "the second was not queued");
    let other = completed(host.submit(classed(job(2, 16), 0)).unwrap().await.unwrap());
    assert_eq!(
        other.result_digest, first.result_digest,
        "same model and prompt, same tokens"
    );
    let mut changed = job(3, 16);
    changed.artifact = Digest::of_bytes(DigestKind::Policy, b"another model");
    let changed = completed(host.submit(classed(changed, 0)).unwrap().await.unwrap());
    assert_ne!(
        changed.result_digest, first.result_digest,
        "weights come from the artifact"
    );
}

#[tokio::test]
async fn a_cancelled_request_stops_mid_way() {
    let host = host(Arc::new(ReferenceExecutor::cpu()));
    let running = host.submit(classed(job(1, MAX_TOKENS), 0)).unwrap();
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert!(host.cancel(RequestId([1; 16])));
    let Err(ExecutionError::Cancelled { tokens }) = running.await.unwrap() else {
        panic!("cancelled");
    };
    assert!(tokens > 0 && tokens < MAX_TOKENS, "stopped after {tokens} tokens");
    assert_eq!(host.queue_depth(), 0);
    assert!(!host.cancel(RequestId([1; 16])), "nothing left to cancel");
}

const MAX_TOKENS: u32 = crate::execute::MAX_TOKENS_MAX;

#[tokio::test]
async fn higher_classes_finish_first_and_a_full_queue_sheds_new_work() {
    let host = host(Arc::new(ReferenceExecutor::cpu()));
    let low = host.submit(classed(job(1, 64), 0)).unwrap();
    let high = host.submit(classed(job(2, 64), 2)).unwrap();
    host.submit(classed(job(3, 64), 1)).unwrap();
    host.submit(classed(job(4, 64), 1)).unwrap();
    assert_eq!(
        host.submit(classed(job(5, 64), 1)).unwrap_err(),
        QueueRefusal::Full { depth: 4, max: 4 }
    );
    let (first, _) = tokio::select! {
        outcome = high => ("high", outcome),
        outcome = low => ("low", outcome),
    };
    assert_eq!(first, "high");
}

#[tokio::test]
async fn an_unsupported_backend_fails_with_its_reason() {
    let host = host(Arc::new(ReferenceExecutor::cpu()));
    let mut on_cuda = job(1, 4);
    on_cuda.backend = Backend::Cuda;
    let outcome = host.submit(on_cuda).unwrap().await.unwrap();
    assert_eq!(outcome, Err(ExecutionError::Backend { backend: Backend::Cuda }));
}

#[tokio::test]
async fn a_streaming_job_hands_over_each_token_as_it_is_produced_in_order() {
    let host = host(Arc::new(Counting::default()));
    let (progress, mut produced) = tokio::sync::mpsc::unbounded_channel();
    let outcome = host.submit_with(job(7, 8), Some(progress)).unwrap();
    let completion = completed(outcome.await.unwrap());
    let mut streamed = Vec::new();
    while let Ok((number, token)) = produced.try_recv() {
        assert_eq!(number as usize, streamed.len(), "numbered in order from 0");
        streamed.push(token);
    }
    assert_eq!(streamed, completion.tokens, "every token, before the outcome");
}

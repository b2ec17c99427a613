//! The CPU reference executor: a tiny deterministic language model whose weights are
//! derived from the artifact digest, so the same model and prompt give the same
//! tokens (and result digest) on every node and every run.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use psionic_core::Digest;
use psionic_core::backend::{Backend, ExecutionProfile};
use sha2::{Digest as _, Sha256};

use psionic_core::dispatch::ShapeRefusal;

use super::{Execution, ExecutionError, Executor, Job};

/// Hidden width of the reference model.
const HIDDEN: usize = 32;
/// Vocabulary: one token per byte.
const VOCAB: usize = 256;

/// Runs the reference model on the CPU (or on whatever backends it is told to claim,
/// for simulated nodes).
#[derive(Clone, Debug)]
pub struct ReferenceExecutor {
    profiles: BTreeMap<Backend, ExecutionProfile>,
    step_time: Duration,
    held: BTreeSet<Digest>,
}

impl ReferenceExecutor {
    /// Whole and replica-routed requests on the CPU.
    pub fn cpu() -> Self {
        Self::claiming([(Backend::Cpu, ExecutionProfile::dispatch())].into())
    }

    /// Whole and replica-routed requests on the CPU, and every lane on CUDA: what a
    /// simulated node with simulated GPUs declares. Each step takes
    /// [`SIMULATED_STEP_TIME`] of (simulated) time, as a real model's would.
    pub fn simulated() -> Self {
        Self::claiming(
            [
                (Backend::Cpu, ExecutionProfile::dispatch()),
                (Backend::Cuda, ExecutionProfile::every_lane()),
            ]
            .into(),
        )
        .with_step_time(SIMULATED_STEP_TIME)
    }

    /// The same executor, each step taking `step_time` (a model's decode speed, for
    /// trying backpressure and cancellation on the reference model).
    pub fn with_step_time(mut self, step_time: Duration) -> Self {
        self.step_time = step_time;
        self
    }

    /// Claims `profiles` (a simulated node stands its simulated GPUs in this way).
    pub fn claiming(profiles: BTreeMap<Backend, ExecutionProfile>) -> Self {
        Self {
            profiles,
            step_time: Duration::ZERO,
            held: BTreeSet::new(),
        }
    }

    /// The same executor, holding the reference model of each of `held` (its node
    /// reports them resident).
    pub fn holding(mut self, held: BTreeSet<Digest>) -> Self {
        self.held = held;
        self
    }
}

/// Time one step of a simulated node's model takes.
pub const SIMULATED_STEP_TIME: Duration = Duration::from_millis(2);

impl Executor for ReferenceExecutor {
    fn profiles(&self) -> BTreeMap<Backend, ExecutionProfile> {
        self.profiles.clone()
    }

    fn held_models(&self) -> BTreeSet<Digest> {
        self.held.clone()
    }

    fn step_time(&self) -> Duration {
        self.step_time
    }

    fn prefill(&self, job: &Job) -> Result<Box<dyn Execution>, ExecutionError> {
        if !self.profiles.contains_key(&job.backend) {
            return Err(ExecutionError::Backend { backend: job.backend });
        }
        ShapeRefusal::check(job.prompt.len(), job.max_tokens)?;
        if job.sampling != psionic_core::dispatch::Sampling::Greedy {
            return Err(psionic_core::dispatch::ModelRefusal::GreedyOnly.into());
        }
        let mut model = Model::of(job.artifact);
        for token in &job.prompt {
            model.absorb(*token);
        }
        Ok(Box::new(model))
    }
}

/// Weights and hidden state.
struct Model {
    embedding: Vec<[i8; HIDDEN]>,
    output: Vec<[i8; VOCAB]>,
    hidden: [i32; HIDDEN],
}

impl Model {
    /// Weights expanded from `artifact` by SHA-256 in counter mode.
    fn of(artifact: Digest) -> Self {
        let mut stream = weight_stream(artifact);
        let mut take = || stream.next().expect("the weight stream never ends") as i8;
        let embedding = (0..VOCAB).map(|_| std::array::from_fn(|_| take())).collect();
        let output = (0..HIDDEN).map(|_| std::array::from_fn(|_| take())).collect();
        Self {
            embedding,
            output,
            hidden: [0; HIDDEN],
        }
    }

    fn absorb(&mut self, token: u8) {
        let embedded = &self.embedding[usize::from(token)];
        for (state, weight) in self.hidden.iter_mut().zip(embedded) {
            *state = (*state / 2 + i32::from(*weight)).clamp(-4096, 4096);
        }
    }
}

impl Execution for Model {
    /// The highest-scoring token (lowest on a tie), which is then absorbed.
    fn decode(&mut self) -> Result<super::Token, super::ExecutionError> {
        let mut scores = [0i64; VOCAB];
        for (state, row) in self.hidden.iter().zip(&self.output) {
            for (score, weight) in scores.iter_mut().zip(row) {
                *score += i64::from(*state) * i64::from(*weight);
            }
        }
        let best = (0..VOCAB)
            .max_by_key(|token| (scores[*token], std::cmp::Reverse(*token)))
            .expect("the vocabulary is not empty");
        let token = best as u8;
        self.absorb(token);
        Ok(super::Token::from(token))
    }
}

fn weight_stream(artifact: Digest) -> impl Iterator<Item = u8> {
    (0u64..).flat_map(move |block| {
        let mut hasher = Sha256::new();
        hasher.update(b"psionic/reference-weights/v1");
        hasher.update(artifact.0);
        hasher.update(block.to_le_bytes());
        hasher.finalize().to_vec()
    })
}

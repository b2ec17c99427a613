//! The model executor: runs the llama-architecture models this node's models
//! directory holds on the CPU, greedy, a token per step.

use std::collections::BTreeMap;
use std::sync::Arc;

use psionic_core::backend::{Backend, ExecutionProfile};
use psionic_core::dispatch::ModelRefusal;
use psionic_model::sampling::greedy;
use psionic_model::{Session, tokenizer::Tokenizer};

use super::{Execution, ExecutionError, Executor, Job};
use crate::artifacts::Models;

/// Most tokens a model may know: requests carry tokens as bytes.
pub const VOCABULARY_MAX: usize = 256;

/// Runs the models of [`Models`] on the CPU.
#[derive(Clone, Debug)]
pub struct ModelExecutor {
    models: Arc<Models>,
}

impl ModelExecutor {
    /// An executor of the models `models` finds.
    pub fn new(models: Arc<Models>) -> Self {
        Self { models }
    }
}

impl Executor for ModelExecutor {
    fn profiles(&self) -> BTreeMap<Backend, ExecutionProfile> {
        [(Backend::Cpu, ExecutionProfile::dispatch())].into()
    }

    fn prefill(&self, job: &Job) -> Result<Box<dyn Execution>, ExecutionError> {
        if job.backend != Backend::Cpu {
            return Err(ExecutionError::Backend { backend: job.backend });
        }
        psionic_core::dispatch::ShapeRefusal::check(job.prompt.len(), job.max_tokens)?;
        let model = self.models.model(job.artifact)?;
        let vocab_size = model.config.vocab_size;
        if vocab_size > VOCABULARY_MAX {
            let (size, max) = (vocab_size as u64, VOCABULARY_MAX as u64);
            return Err(ModelRefusal::Vocabulary { size, max }.into());
        }
        let prompt = Tokenizer::ByteLevel.encode(&job.prompt);
        let capacity = prompt.len().saturating_add(job.max_tokens as usize);
        let max = model.config.max_position_embeddings;
        let too_long = || ModelRefusal::TooLong {
            asked: capacity as u64,
            max: max as u64,
        };
        let mut session = Session::new(model, capacity).map_err(|_| too_long())?;
        let logits = session
            .forward(&prompt)
            .map_err(|error| ModelRefusal::unloadable(job.artifact, &error.to_string()))?;
        Ok(Box::new(Running { session, logits }))
    }
}

/// A request in progress: the sequence so far and the logits after it.
struct Running {
    session: Session,
    logits: Vec<f32>,
}

impl Execution for Running {
    /// The greedy token; the sequence then takes it (unless it is the last the
    /// capacity holds).
    fn decode(&mut self) -> u8 {
        let token = greedy(&self.logits);
        if let Ok(logits) = self.session.forward(&[token]) {
            self.logits = logits;
        }
        u8::try_from(token).expect("the vocabulary fits a byte (checked at prefill)")
    }
}

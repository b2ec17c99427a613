//! The model executor: runs the llama-architecture models this node's models
//! directory holds on the CPU, a token per step, greedy or seeded.

use std::collections::BTreeMap;
use std::sync::Arc;

use psionic_core::backend::{Backend, ExecutionProfile};
use psionic_core::dispatch::ModelRefusal;
use psionic_core::dispatch::Sampling;
use psionic_model::sampling::{Sampler, Sampling as ModelSampling};
use psionic_model::{Session, tokenizer::Tokenizer};

use super::{Execution, ExecutionError, Executor, Job};
use crate::artifacts::Models;

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

/// Whether this executor can run `model` at all (every token its tokenizer produces
/// must be in its vocabulary: all 256 bytes for the byte-level one): checked when a
/// scan finds it, so one it cannot run is reported failed rather than resident.
pub fn runnable(model: &psionic_model::Model) -> Result<(), ModelRefusal> {
    let vocab_size = model.config.vocab_size;
    let needed = match &model.tokenizer {
        Tokenizer::ByteLevel => 256,
        Tokenizer::Bpe(bpe) => bpe.len(),
    };
    match vocab_size < needed {
        true => Err(ModelRefusal::Vocabulary {
            size: vocab_size as u64,
            min: needed as u64,
        }),
        false => Ok(()),
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
        runnable(&model)?;
        let prompt = model.tokenizer.encode(&job.prompt);
        let capacity = prompt.len().saturating_add(job.max_tokens as usize);
        let max = model.config.max_position_embeddings;
        let too_long = || ModelRefusal::TooLong {
            asked: capacity as u64,
            max: max as u64,
        };
        let mut session = Session::new(model, capacity).map_err(|_| too_long())?;
        let logits = session.forward(&prompt).map_err(|error| match error {
            psionic_model::ModelError::Token { token, vocab_size } => ModelRefusal::Token {
                token,
                vocab_size: vocab_size as u64,
            },
            error => ModelRefusal::unloadable(job.artifact, &error.to_string()),
        })?;
        let sampler = Sampler::new(match job.sampling {
            Sampling::Greedy => ModelSampling::Greedy,
            Sampling::Seeded {
                temperature_milli,
                seed,
            } => ModelSampling::Seeded {
                temperature: temperature_milli as f32 / 1_000.0,
                seed,
            },
        });
        Ok(Box::new(Running {
            session,
            logits,
            sampler,
        }))
    }
}

/// A request in progress: the sequence so far, the logits after it, and how the
/// next token is chosen.
struct Running {
    session: Session,
    logits: Vec<f32>,
    sampler: Sampler,
}

impl Execution for Running {
    /// The next token; the sequence then takes it, unless it is the last the request
    /// asked for (whose logits nothing reads).
    fn decode(&mut self) -> super::Token {
        let token = self.sampler.next(&self.logits);
        if self.session.positions() + 1 < self.session.capacity() {
            self.logits = self
                .session
                .forward(&[token])
                .expect("a position within the capacity, of a known token");
        }
        token
    }
}

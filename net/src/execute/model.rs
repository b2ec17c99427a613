//! The model executor: runs the llama-architecture models this node's models
//! directory holds, a token per step, greedy or seeded, on the CPU or on a CUDA
//! device that passed its self-test.

use std::collections::BTreeMap;
use std::sync::Arc;

use psionic_core::backend::{Backend, BackendRefusal, ExecutionProfile};
use psionic_core::dispatch::ModelRefusal;
use psionic_core::dispatch::Sampling;
use psionic_model::sampling::{Sampler, Sampling as ModelSampling};
use psionic_model::{Model, Session, tokenizer::Tokenizer};

use super::sequence::{Running, Sequence};
use super::{Execution, ExecutionError, Executor, Job};
use crate::artifacts::Models;

/// Runs the models of [`Models`] on the CPU and, where they open and pass their
/// self-test, on this machine's CUDA devices.
#[derive(Clone, Debug)]
pub struct ModelExecutor {
    models: Arc<Models>,
    #[cfg(not(madsim))]
    cuda: Arc<super::cuda::CudaModels>,
}

impl ModelExecutor {
    /// An executor of the models `models` finds.
    pub fn new(models: Arc<Models>) -> Self {
        Self {
            models,
            #[cfg(not(madsim))]
            cuda: Arc::default(),
        }
    }

    /// Why CUDA runs nothing here, if it does not (opens and tests the devices the
    /// first time it is asked; a device that faulted since refuses it too).
    fn cuda_refusal(&self) -> Option<BackendRefusal> {
        #[cfg(not(madsim))]
        return self.cuda.refusal();
        #[cfg(madsim)]
        return Some(BackendRefusal::NoDriver);
    }

    fn sequence(&self, job: &Job, model: Arc<Model>, capacity: usize) -> Result<Sequence, ExecutionError> {
        let too_long = || ModelRefusal::TooLong {
            asked: capacity as u64,
            max: model.config.max_position_embeddings as u64,
        };
        match job.backend {
            Backend::Cpu => Ok(Sequence::Cpu(
                Session::new(Arc::clone(&model), capacity).map_err(|_| too_long())?,
            )),
            #[cfg(not(madsim))]
            Backend::Cuda => self
                .cuda
                .sequence(job.artifact, &model, job.device.unwrap_or(0), capacity),
            backend => Err(ExecutionError::Backend { backend }),
        }
    }
}

/// Whether this executor can run `model` at all (every token its tokenizer produces
/// must be in its vocabulary: all 256 bytes for the byte-level one): checked when a
/// scan finds it, so one it cannot run is reported failed rather than resident.
pub fn runnable(model: &Model) -> Result<(), ModelRefusal> {
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
    /// The CPU always; CUDA once every device opened and passed its self-test.
    fn profiles(&self) -> BTreeMap<Backend, ExecutionProfile> {
        let mut profiles = BTreeMap::from([(Backend::Cpu, ExecutionProfile::dispatch())]);
        if self.cuda_refusal().is_none() {
            profiles.insert(Backend::Cuda, ExecutionProfile::dispatch());
        }
        profiles
    }

    fn refusals(&self) -> BTreeMap<Backend, BackendRefusal> {
        self.cuda_refusal()
            .map(|reason| (Backend::Cuda, reason))
            .into_iter()
            .collect()
    }

    fn prefill(&self, job: &Job) -> Result<Box<dyn Execution>, ExecutionError> {
        if !matches!(job.backend, Backend::Cpu | Backend::Cuda) {
            return Err(ExecutionError::Backend { backend: job.backend });
        }
        psionic_core::dispatch::ShapeRefusal::check(job.prompt.len(), job.max_tokens)?;
        let model = self.models.model(job.artifact)?;
        runnable(&model)?;
        let prompt = model.tokenizer.encode(&job.prompt);
        let capacity = prompt.len().saturating_add(job.max_tokens as usize);
        let mut sequence = self.sequence(job, model, capacity)?;
        let logits = sequence.forward(&prompt, job.artifact)?;
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
            sequence,
            artifact: job.artifact,
            logits,
            sampler,
        }))
    }
}

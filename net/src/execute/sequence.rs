//! One request's sequence on whichever backend runs it, and the decode loop over it.

use psionic_core::dispatch::{ExecutionError, ModelRefusal};
use psionic_model::sampling::Sampler;
use psionic_model::{ModelError, Session};

use super::{Execution, Token};

/// A sequence's KV cache and forward pass, on the CPU or a CUDA device.
#[derive(Debug)]
pub(super) enum Sequence {
    /// On the CPU.
    Cpu(Session),
    /// On a CUDA device.
    #[cfg(not(madsim))]
    Cuda(
        Box<psionic_cuda::forward::DeviceSession>,
        std::sync::Arc<super::cuda::CudaModels>,
    ),
}

impl Sequence {
    fn positions(&self) -> usize {
        match self {
            Sequence::Cpu(session) => session.positions(),
            #[cfg(not(madsim))]
            Sequence::Cuda(session, _) => session.positions(),
        }
    }

    fn capacity(&self) -> usize {
        match self {
            Sequence::Cpu(session) => session.capacity(),
            #[cfg(not(madsim))]
            Sequence::Cuda(session, _) => session.capacity(),
        }
    }

    /// Runs `tokens` as the next positions; the logits after the last of them.
    pub(super) fn forward(&mut self, tokens: &[u32], artifact: psionic_core::Digest) -> Result<Vec<f32>, ModelRefusal> {
        match self {
            Sequence::Cpu(session) => session.forward(tokens).map_err(|error| model_refusal(error, artifact)),
            #[cfg(not(madsim))]
            Sequence::Cuda(session, models) => session.forward(tokens).map_err(|error| match error {
                psionic_cuda::forward::ForwardError::Model(error) => model_refusal(error, artifact),
                psionic_cuda::forward::ForwardError::Device(fault) => {
                    models.note_fault(fault);
                    cuda_fault(fault)
                }
            }),
        }
    }
}

/// What a request is told when a CUDA device failed under it.
#[cfg(not(madsim))]
pub(super) fn cuda_fault(fault: psionic_cuda::forward::DeviceFault) -> ModelRefusal {
    ModelRefusal::Device {
        backend: psionic_core::backend::Backend::Cuda,
        operation: fault.operation,
        code: fault.code,
    }
}

fn model_refusal(error: ModelError, artifact: psionic_core::Digest) -> ModelRefusal {
    match error {
        ModelError::Token { token, vocab_size } => ModelRefusal::Token {
            token,
            vocab_size: vocab_size as u64,
        },
        ModelError::TooLong { asked, max } => ModelRefusal::TooLong {
            asked: asked as u64,
            max: max as u64,
        },
        error => ModelRefusal::unloadable(artifact, &error.to_string()),
    }
}

/// A request in progress: the sequence so far, the logits after it, and how the
/// next token is chosen.
pub(super) struct Running {
    pub(super) sequence: Sequence,
    pub(super) artifact: psionic_core::Digest,
    pub(super) logits: Vec<f32>,
    pub(super) sampler: Sampler,
}

impl Execution for Running {
    /// The next token; the sequence then takes it, unless it is the last the request
    /// asked for (whose logits nothing reads).
    fn decode(&mut self) -> Result<Token, ExecutionError> {
        let token = self.sampler.next(&self.logits);
        if self.sequence.positions() + 1 < self.sequence.capacity() {
            self.logits = self.sequence.forward(&[token], self.artifact)?;
        }
        Ok(token)
    }
}

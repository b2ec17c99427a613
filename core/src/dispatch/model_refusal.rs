//! Why a node's model could not run a job.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// Longest reason a [`ModelRefusal::Unloadable`] carries, in bytes.
pub const MODEL_REASON_BYTES_MAX: usize = 256;

/// Why the model an artifact names could not run a job on this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum ModelRefusal {
    /// The node's models directory holds no artifact of this digest.
    #[error("artifact {artifact} is not among this node's models")]
    NotHeld {
        /// The artifact.
        artifact: Digest,
    },
    /// Its files could not be loaded.
    #[error("artifact {artifact} could not be loaded: {reason}")]
    Unloadable {
        /// The artifact.
        artifact: Digest,
        /// Why (at most [`MODEL_REASON_BYTES_MAX`] bytes).
        reason: String,
    },
    /// The prompt and the tokens asked for pass the model's longest sequence.
    #[error("{asked} positions asked for; the model takes at most {max}")]
    TooLong {
        /// Prompt tokens plus `max_tokens`.
        asked: u64,
        /// The model's longest sequence.
        max: u64,
    },
    /// The model's vocabulary lacks tokens its tokenizer produces.
    #[error("the model's vocabulary of {size} tokens lacks tokens its tokenizer produces (it needs {min})")]
    Vocabulary {
        /// The model's vocabulary.
        size: u64,
        /// Tokens its tokenizer may produce.
        min: u64,
    },
    /// A prompt byte is not a token of the model's vocabulary.
    #[error("prompt token {token} is outside the model's vocabulary of {vocab_size}")]
    Token {
        /// The token.
        token: u32,
        /// The model's vocabulary.
        vocab_size: u64,
    },
    /// The built-in reference model chooses tokens greedily only.
    #[error("the reference model chooses tokens greedily only; leave out the temperature")]
    GreedyOnly,
    /// The device failed while running the model.
    #[error("the {backend:?} device failed in {operation:?} with code {code}")]
    Device {
        /// The backend.
        backend: crate::backend::Backend,
        /// What it was doing.
        operation: crate::backend::DeviceOperation,
        /// The driver's or library's status code.
        code: i32,
    },
}

impl ModelRefusal {
    /// [`ModelRefusal::Unloadable`], its reason cut to [`MODEL_REASON_BYTES_MAX`] bytes
    /// at a character boundary.
    pub fn unloadable(artifact: Digest, reason: &str) -> Self {
        let mut end = reason.len().min(MODEL_REASON_BYTES_MAX);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        ModelRefusal::Unloadable {
            artifact,
            reason: reason[..end].to_owned(),
        }
    }
}

//! Llama-architecture models for Psionic Cluster nodes.
//!
//! A model is a directory holding `config.json` (its shape), `model.safetensors` (its
//! weights, F32, F16 or BF16) and, optionally, `tokenizer.json`. [`Model::load`] checks
//! every tensor against the shape before anything runs; [`Session`] runs it on the CPU
//! (RMSNorm, RoPE, grouped-query attention with a KV cache, SwiGLU) through ndarray's
//! matrix products; [`reference`] is the same forward pass in plain loops, to check it
//! against.

mod bpe;
pub mod config;
pub mod gguf;
pub mod make_test;
pub mod reference;
pub mod sampling;
mod session;
pub mod tokenizer;
mod weights;

use std::path::{Path, PathBuf};

pub use bpe::Bpe;
pub use config::LlamaConfig;
pub use session::Session;
pub use weights::{Layer, Weights};

/// The files of a model directory.
pub const CONFIG_FILE: &str = "config.json";
/// The weights' file.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The tokenizer's file.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Why a model cannot be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `config.json` is not a model configuration.
    #[error("config.json: {0}")]
    Config(String),
    /// The model is not one this crate runs.
    #[error("architectures {found:?} do not include {}", config::LLAMA)]
    Architecture {
        /// What the configuration claims.
        found: Vec<String>,
    },
    /// A dimension is zero or too large.
    #[error("{field} is {value}; it must be between 1 and {max}")]
    Dimension {
        /// The field.
        field: &'static str,
        /// Its value.
        value: usize,
        /// The most allowed.
        max: usize,
    },
    /// The hidden width does not split into heads of an even width.
    #[error("hidden_size {hidden_size} does not split into {heads} heads of an even width")]
    HeadSplit {
        /// Hidden width.
        hidden_size: usize,
        /// Query heads.
        heads: usize,
    },
    /// Query heads are not a multiple of key and value heads.
    #[error("{heads} query heads are not a multiple of {kv_heads} key/value heads")]
    KvHeads {
        /// Query heads.
        heads: usize,
        /// Key and value heads.
        kv_heads: usize,
    },
    /// A variant of the architecture this crate does not run.
    #[error("{field} {value} is not supported")]
    Unsupported {
        /// The configuration field.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// A constant is not a positive finite number.
    #[error("rms_norm_eps {rms_norm_eps} and rope_theta {rope_theta} must be positive and finite (rope_theta above 1)")]
    Constant {
        /// RMSNorm epsilon.
        rms_norm_eps: f32,
        /// RoPE base.
        rope_theta: f32,
    },
    /// The weights file is not safetensors.
    #[error("model.safetensors: {0}")]
    Safetensors(String),
    /// A tensor the shape needs is absent.
    #[error("tensor {name} is missing")]
    MissingTensor {
        /// Its name.
        name: String,
    },
    /// A tensor's shape differs from the one the configuration implies.
    #[error("tensor {name} has shape {found:?}; the configuration implies {expected:?}")]
    TensorShape {
        /// Its name.
        name: String,
        /// Its shape in the file.
        found: Vec<usize>,
        /// The shape expected.
        expected: Vec<usize>,
    },
    /// A tensor's element type is not F32, F16 or BF16.
    #[error("tensor {name} holds {dtype}; only F32, F16 and BF16 are read")]
    TensorType {
        /// Its name.
        name: String,
        /// Its element type.
        dtype: String,
    },
    /// A weight is not a finite number.
    #[error("tensor {name} holds a value that is not finite")]
    NotFinite {
        /// Its name.
        name: String,
    },
    /// The sequence would pass the longest the model takes.
    #[error("{asked} positions asked for; the model takes at most {max}")]
    TooLong {
        /// Positions the prompt and the produced tokens need.
        asked: usize,
        /// `max_position_embeddings`.
        max: usize,
    },
    /// A token outside the vocabulary.
    #[error("token {token} is outside the vocabulary of {vocab_size}")]
    Token {
        /// The token.
        token: u32,
        /// Vocabulary size.
        vocab_size: usize,
    },
    /// A GGUF file that cannot be read.
    #[error("model.gguf: {0}")]
    Gguf(#[from] gguf::GgufError),
    /// An empty prompt: nothing to predict from.
    #[error("the prompt is empty")]
    EmptyPrompt,
}

/// A loaded model: its shape, its weights and its tokenizer.
#[derive(Debug)]
pub struct Model {
    /// Its shape.
    pub config: LlamaConfig,
    /// Its weights, checked against the shape.
    pub weights: Weights,
    /// How its text becomes tokens and back.
    pub tokenizer: tokenizer::Tokenizer,
}

impl Model {
    /// Loads the model in `dir` (`model.gguf` if it holds one, else `config.json` and
    /// `model.safetensors`), checking every tensor against its configuration.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let gguf = dir.join(gguf::GGUF_FILE);
        if std::fs::metadata(&gguf).is_ok_and(|metadata| metadata.is_file()) {
            return gguf::load(&gguf);
        }
        let config = read_config(dir)?;
        let path = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&path).map_err(|source| ModelError::Io { path, source })?;
        let weights = Weights::from_safetensors(&config, &bytes)?;
        Ok(Self {
            config,
            weights,
            tokenizer: tokenizer::Tokenizer::ByteLevel,
        })
    }
}

/// Reads and checks `config.json` in `dir`.
pub fn read_config(dir: &Path) -> Result<LlamaConfig, ModelError> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io { path, source })?;
    let config: LlamaConfig = serde_json::from_str(&text).map_err(|error| ModelError::Config(error.to_string()))?;
    config.validate()?;
    Ok(config)
}

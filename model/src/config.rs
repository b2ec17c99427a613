//! A llama-architecture model's shape, as its `config.json` states it (the fields
//! Hugging Face writes; others are ignored).

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Most layers, heads, or width a model may declare: bounds every size computed from
/// a file so that no product overflows.
pub const DIMENSION_MAX: usize = 1 << 16;

/// The shape of a llama-architecture model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Tokens the model knows.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU feed-forward layer.
    pub intermediate_size: usize,
    /// Transformer blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key and value heads (grouped-query attention when fewer than query heads).
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// RMSNorm epsilon.
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f32,
    /// RoPE base.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f32,
    /// Longest sequence (prompt and produced tokens).
    pub max_position_embeddings: usize,
    /// Whether the output projection is the embedding (no `lm_head.weight`).
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// The architectures the file claims (must include `LlamaForCausalLM`).
    #[serde(default)]
    pub architectures: Vec<String>,
    /// The feed-forward activation, if stated (only `silu` runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_act: Option<String>,
    /// A RoPE scaling scheme, if stated (none runs: positions would be rotated wrong).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
    /// The head width, if stated (only `hidden_size / num_attention_heads` runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
}

fn default_rms_norm_eps() -> f32 {
    1e-5
}

fn default_rope_theta() -> f32 {
    10_000.0
}

/// The architecture name this crate runs.
pub const LLAMA: &str = "LlamaForCausalLM";

impl LlamaConfig {
    /// Key and value heads.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Checks the shape is one this crate can run.
    pub fn validate(&self) -> Result<(), ModelError> {
        if !self.architectures.iter().any(|name| name == LLAMA) {
            return Err(ModelError::Architecture {
                found: self.architectures.clone(),
            });
        }
        let dimensions = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.kv_heads()),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (field, value) in dimensions {
            if value == 0 || value > DIMENSION_MAX {
                return Err(ModelError::Dimension {
                    field,
                    value,
                    max: DIMENSION_MAX,
                });
            }
        }
        let heads = self.num_attention_heads;
        if !self.hidden_size.is_multiple_of(heads) || !self.head_dim().is_multiple_of(2) {
            return Err(ModelError::HeadSplit {
                hidden_size: self.hidden_size,
                heads,
            });
        }
        if !heads.is_multiple_of(self.kv_heads()) {
            return Err(ModelError::KvHeads {
                heads,
                kv_heads: self.kv_heads(),
            });
        }
        self.validate_variant()?;
        if !(self.rms_norm_eps.is_finite()
            && self.rms_norm_eps > 0.0
            && self.rope_theta.is_finite()
            && self.rope_theta > 1.0)
        {
            return Err(ModelError::Constant {
                rms_norm_eps: self.rms_norm_eps,
                rope_theta: self.rope_theta,
            });
        }
        Ok(())
    }

    /// Refuses the variants of the architecture this crate does not run, rather than
    /// run them with the wrong arithmetic.
    fn validate_variant(&self) -> Result<(), ModelError> {
        if let Some(act) = self.hidden_act.as_deref().filter(|act| *act != "silu") {
            return Err(ModelError::Unsupported {
                field: "hidden_act",
                value: act.to_owned(),
            });
        }
        if let Some(scaling) = self.rope_scaling.as_ref().filter(|scaling| !scaling.is_null()) {
            return Err(ModelError::Unsupported {
                field: "rope_scaling",
                value: scaling.to_string(),
            });
        }
        if let Some(width) = self.head_dim.filter(|width| *width != self.head_dim()) {
            return Err(ModelError::Unsupported {
                field: "head_dim",
                value: width.to_string(),
            });
        }
        Ok(())
    }

    /// Parameters the model holds.
    pub fn parameters(&self) -> u64 {
        let (hidden, ffn, vocab) = (
            self.hidden_size as u64,
            self.intermediate_size as u64,
            self.vocab_size as u64,
        );
        let kv = (self.kv_heads() * self.head_dim()) as u64;
        let per_layer = 2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * ffn + 2 * hidden;
        let head = if self.tie_word_embeddings { 0 } else { vocab * hidden };
        vocab * hidden + self.num_hidden_layers as u64 * per_layer + hidden + head
    }
}

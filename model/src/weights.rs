//! Weights read from safetensors, each tensor checked against the configuration.

use ndarray::{Array1, Array2};
use safetensors::{Dtype, SafeTensors};

use crate::{LlamaConfig, ModelError};

/// One transformer block's weights (matrices are `[out, in]`, as Hugging Face stores
/// them).
#[derive(Debug)]
pub struct Layer {
    /// RMSNorm before attention.
    pub attn_norm: Array1<f32>,
    /// Query projection, `[heads * head_dim, hidden]`.
    pub wq: Array2<f32>,
    /// Key projection, `[kv_heads * head_dim, hidden]`.
    pub wk: Array2<f32>,
    /// Value projection, `[kv_heads * head_dim, hidden]`.
    pub wv: Array2<f32>,
    /// Output projection, `[hidden, heads * head_dim]`.
    pub wo: Array2<f32>,
    /// RMSNorm before the feed-forward layer.
    pub ffn_norm: Array1<f32>,
    /// SwiGLU gate, `[intermediate, hidden]`.
    pub w_gate: Array2<f32>,
    /// SwiGLU up projection, `[intermediate, hidden]`.
    pub w_up: Array2<f32>,
    /// Down projection, `[hidden, intermediate]`.
    pub w_down: Array2<f32>,
}

/// A model's weights.
#[derive(Debug)]
pub struct Weights {
    /// Token embeddings, `[vocab, hidden]`.
    pub embed: Array2<f32>,
    /// The blocks, in order.
    pub layers: Vec<Layer>,
    /// Final RMSNorm.
    pub norm: Array1<f32>,
    /// Output projection, `[vocab, hidden]`; none when tied to the embeddings.
    pub lm_head: Option<Array2<f32>>,
}

impl Weights {
    /// The output projection.
    pub fn output(&self) -> &Array2<f32> {
        self.lm_head.as_ref().unwrap_or(&self.embed)
    }

    /// Reads every tensor `config` implies from safetensors `bytes`.
    pub fn from_safetensors(config: &LlamaConfig, bytes: &[u8]) -> Result<Self, ModelError> {
        let file = SafeTensors::deserialize(bytes).map_err(|error| ModelError::Safetensors(error.to_string()))?;
        let (hidden, ffn, vocab) = (config.hidden_size, config.intermediate_size, config.vocab_size);
        let q_width = config.num_attention_heads * config.head_dim();
        let kv_width = config.kv_heads() * config.head_dim();
        let matrix = |name: &str, rows: usize, cols: usize| read_matrix(&file, name, rows, cols);
        let vector = |name: &str| read_vector(&file, name, hidden);
        let layers = (0..config.num_hidden_layers)
            .map(|index| {
                let name = |part: &str| format!("model.layers.{index}.{part}.weight");
                Ok(Layer {
                    attn_norm: vector(&name("input_layernorm"))?,
                    wq: matrix(&name("self_attn.q_proj"), q_width, hidden)?,
                    wk: matrix(&name("self_attn.k_proj"), kv_width, hidden)?,
                    wv: matrix(&name("self_attn.v_proj"), kv_width, hidden)?,
                    wo: matrix(&name("self_attn.o_proj"), hidden, q_width)?,
                    ffn_norm: vector(&name("post_attention_layernorm"))?,
                    w_gate: matrix(&name("mlp.gate_proj"), ffn, hidden)?,
                    w_up: matrix(&name("mlp.up_proj"), ffn, hidden)?,
                    w_down: matrix(&name("mlp.down_proj"), hidden, ffn)?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let lm_head = match config.tie_word_embeddings {
            true => None,
            false => Some(matrix("lm_head.weight", vocab, hidden)?),
        };
        Ok(Self {
            embed: matrix("model.embed_tokens.weight", vocab, hidden)?,
            layers,
            norm: vector("model.norm.weight")?,
            lm_head,
        })
    }
}

fn read_matrix(file: &SafeTensors<'_>, name: &str, rows: usize, cols: usize) -> Result<Array2<f32>, ModelError> {
    let values = read_tensor(file, name, &[rows, cols])?;
    Ok(Array2::from_shape_vec((rows, cols), values).expect("the length was checked against the shape"))
}

fn read_vector(file: &SafeTensors<'_>, name: &str, len: usize) -> Result<Array1<f32>, ModelError> {
    Ok(Array1::from_vec(read_tensor(file, name, &[len])?))
}

/// The tensor `name` as F32, checked to have `expected` shape and finite values.
fn read_tensor(file: &SafeTensors<'_>, name: &str, expected: &[usize]) -> Result<Vec<f32>, ModelError> {
    let view = file
        .tensor(name)
        .map_err(|_| ModelError::MissingTensor { name: name.to_owned() })?;
    if view.shape() != expected {
        return Err(ModelError::TensorShape {
            name: name.to_owned(),
            found: view.shape().to_vec(),
            expected: expected.to_vec(),
        });
    }
    let data = view.data();
    let values: Vec<f32> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => {
            return Err(ModelError::TensorType {
                name: name.to_owned(),
                dtype: format!("{other:?}"),
            });
        }
    };
    if values.iter().any(|value| !value.is_finite()) {
        return Err(ModelError::NotFinite { name: name.to_owned() });
    }
    Ok(values)
}

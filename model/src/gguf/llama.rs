//! A llama model from a GGUF file: its shape from `llama.*` metadata, its weights
//! dequantized to `f32` (queries and keys back in the rotate-half layout the forward
//! pass uses: llama.cpp's converter interleaves their rotary pairs), and its
//! byte-level BPE tokenizer.

use std::path::Path;

use ndarray::{Array1, Array2};

use super::{GgufError, GgufFile, Value};
use crate::bpe::Bpe;
use crate::tokenizer::Tokenizer;
use crate::{Layer, LlamaConfig, Model, ModelError, Weights};

/// Loads the model in the GGUF file at `path`.
pub fn load(path: &Path) -> Result<Model, ModelError> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file = GgufFile::parse(&bytes)?;
    let config = config(&file)?;
    config.validate()?;
    let weights = weights(&file, &bytes, &config)?;
    let tokenizer = tokenizer(&file)?;
    Ok(Model {
        config,
        weights,
        tokenizer,
    })
}

fn dimension(file: &GgufFile, key: &str) -> Result<usize, ModelError> {
    let value = file.int(key)?;
    usize::try_from(value).map_err(|_| ModelError::Dimension {
        field: "a GGUF dimension",
        value: usize::MAX,
        max: crate::config::DIMENSION_MAX,
    })
}

/// The shape `llama.*` metadata states.
fn config(file: &GgufFile) -> Result<LlamaConfig, ModelError> {
    let architecture = file.text("general.architecture")?;
    if architecture != "llama" {
        return Err(ModelError::Architecture {
            found: vec![architecture.to_owned()],
        });
    }
    let heads = dimension(file, "llama.attention.head_count")?;
    let vocab_size = match file.int("llama.vocab_size") {
        Ok(size) => size as usize,
        Err(_) => file.array("tokenizer.ggml.tokens")?.len(),
    };
    Ok(LlamaConfig {
        vocab_size,
        hidden_size: dimension(file, "llama.embedding_length")?,
        intermediate_size: dimension(file, "llama.feed_forward_length")?,
        num_hidden_layers: dimension(file, "llama.block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: Some(dimension(file, "llama.attention.head_count_kv").unwrap_or(heads)),
        rms_norm_eps: file.float("llama.attention.layer_norm_rms_epsilon")? as f32,
        rope_theta: file.float("llama.rope.freq_base").unwrap_or(10_000.0) as f32,
        max_position_embeddings: dimension(file, "llama.context_length")?,
        tie_word_embeddings: !file.tensors.contains_key("output.weight"),
        architectures: vec![crate::config::LLAMA.to_owned()],
        hidden_act: None,
        rope_scaling: file
            .metadata
            .get("llama.rope.scaling.type")
            .map(|_| serde_json::json!("stated")),
        head_dim: None,
    })
}

/// The tensor `name` as `f32`, checked to have `dims` (fastest-varying first).
fn tensor(file: &GgufFile, bytes: &[u8], name: &str, dims: &[usize]) -> Result<Vec<f32>, ModelError> {
    let info = file
        .tensors
        .get(name)
        .ok_or_else(|| ModelError::MissingTensor { name: name.to_owned() })?;
    let expected: Vec<u64> = dims.iter().map(|dim| *dim as u64).collect();
    if info.dims != expected {
        return Err(ModelError::TensorShape {
            name: name.to_owned(),
            found: info.dims.iter().map(|dim| *dim as usize).collect(),
            expected: dims.to_vec(),
        });
    }
    let data = &bytes[info.start as usize..(info.start + info.bytes) as usize];
    let values = info.tensor_type.dequantize(data);
    if values.iter().any(|value| !value.is_finite()) {
        return Err(ModelError::NotFinite { name: name.to_owned() });
    }
    Ok(values)
}

/// A `rows` by `cols` matrix, stored as `[cols, rows]`.
fn matrix(file: &GgufFile, bytes: &[u8], name: &str, rows: usize, cols: usize) -> Result<Array2<f32>, ModelError> {
    let values = tensor(file, bytes, name, &[cols, rows])?;
    Ok(Array2::from_shape_vec((rows, cols), values).expect("the length was checked against the shape"))
}

/// The rows of a query or key projection of `heads` heads, each head's rotary pairs
/// moved from interleaved (`x0 y0 x1 y1 ...`) to halves (`x0 x1 ... y0 y1 ...`).
fn rotate_half_layout(interleaved: Array2<f32>, heads: usize) -> Array2<f32> {
    let head_dim = interleaved.nrows() / heads;
    let half = head_dim / 2;
    let mut halves = interleaved.clone();
    for head in 0..heads {
        for pair in 0..half {
            for (part, target) in [pair, half + pair].into_iter().enumerate() {
                let source = head * head_dim + 2 * pair + part;
                halves
                    .row_mut(head * head_dim + target)
                    .assign(&interleaved.row(source));
            }
        }
    }
    halves
}

fn weights(file: &GgufFile, bytes: &[u8], config: &LlamaConfig) -> Result<Weights, ModelError> {
    let (hidden, ffn, vocab) = (config.hidden_size, config.intermediate_size, config.vocab_size);
    let q_width = config.num_attention_heads * config.head_dim();
    let kv_width = config.kv_heads() * config.head_dim();
    let matrix = |name: &str, rows, cols| matrix(file, bytes, name, rows, cols);
    let vector = |name: &str| tensor(file, bytes, name, &[hidden]).map(Array1::from_vec);
    let layers = (0..config.num_hidden_layers)
        .map(|index| {
            let name = |part: &str| format!("blk.{index}.{part}.weight");
            Ok(Layer {
                attn_norm: vector(&name("attn_norm"))?,
                wq: rotate_half_layout(matrix(&name("attn_q"), q_width, hidden)?, config.num_attention_heads),
                wk: rotate_half_layout(matrix(&name("attn_k"), kv_width, hidden)?, config.kv_heads()),
                wv: matrix(&name("attn_v"), kv_width, hidden)?,
                wo: matrix(&name("attn_output"), hidden, q_width)?,
                ffn_norm: vector(&name("ffn_norm"))?,
                w_gate: matrix(&name("ffn_gate"), ffn, hidden)?,
                w_up: matrix(&name("ffn_up"), ffn, hidden)?,
                w_down: matrix(&name("ffn_down"), hidden, ffn)?,
            })
        })
        .collect::<Result<Vec<_>, ModelError>>()?;
    let lm_head = match config.tie_word_embeddings {
        true => None,
        false => Some(matrix("output.weight", vocab, hidden)?),
    };
    Ok(Weights {
        embed: matrix("token_embd.weight", vocab, hidden)?,
        layers,
        norm: vector("output_norm.weight")?,
        lm_head,
    })
}

/// The vocabulary's strings of `key`.
fn strings<'a>(file: &'a GgufFile, key: &str) -> Result<Vec<&'a str>, GgufError> {
    file.array(key)?
        .iter()
        .map(|value| match value {
            Value::Text(text) => Ok(text.as_str()),
            _ => Err(GgufError::Metadata {
                key: key.to_owned(),
                expected: "an array of strings",
            }),
        })
        .collect()
}

/// The tokenizer the file ships: byte-level BPE (`gpt2`) is read; another is refused.
fn tokenizer(file: &GgufFile) -> Result<Tokenizer, ModelError> {
    let model = file.text("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(ModelError::Unsupported {
            field: "tokenizer.ggml.model",
            value: model.to_owned(),
        });
    }
    let tokens = strings(file, "tokenizer.ggml.tokens")?;
    let merges = strings(file, "tokenizer.ggml.merges")?;
    let control: Vec<bool> = match file.array("tokenizer.ggml.token_type") {
        Ok(types) => types.iter().map(|kind| *kind == Value::Int(3)).collect(),
        Err(_) => vec![false; tokens.len()],
    };
    Ok(Tokenizer::Bpe(std::sync::Arc::new(Bpe::new(
        &tokens, &merges, &control,
    ))))
}

//! The test model: a small llama-architecture model with seeded weights and a
//! byte-level tokenizer, written as a Hugging Face model directory, so tests and demos
//! need no download. The same seed writes the same bytes.

use std::collections::HashMap;
use std::path::Path;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use crate::tokenizer::TokenizerFile;
use crate::{CONFIG_FILE, LlamaConfig, ModelError, TOKENIZER_FILE, WEIGHTS_FILE};

/// The test model's shape: 4 layers, 8 query and 4 key/value heads of width 16, a
/// byte vocabulary; about a million parameters (4 MB of F32).
pub fn test_config() -> LlamaConfig {
    LlamaConfig {
        vocab_size: 256,
        hidden_size: 128,
        intermediate_size: 352,
        num_hidden_layers: 4,
        num_attention_heads: 8,
        num_key_value_heads: Some(4),
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        max_position_embeddings: 1_024,
        tie_word_embeddings: false,
        architectures: vec![crate::config::LLAMA.to_owned()],
        hidden_act: Some("silu".to_owned()),
        rope_scaling: None,
        head_dim: None,
    }
}

/// Writes the test model of `config` with weights drawn from `seed` into `dir`
/// (created if absent).
pub fn write(dir: &Path, config: &LlamaConfig, seed: u64) -> Result<(), ModelError> {
    config.validate()?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let config_json = serde_json::to_vec_pretty(config).expect("a configuration encodes");
    write_file(&dir.join(CONFIG_FILE), &config_json)?;
    let tokenizer = serde_json::to_vec(&TokenizerFile::ByteLevel).expect("a tokenizer encodes");
    write_file(&dir.join(TOKENIZER_FILE), &tokenizer)?;
    write_file(&dir.join(WEIGHTS_FILE), &weights(config, seed))
}

/// The test model of `config` with weights drawn from `seed`, in memory (the same
/// weights [`write`] writes), with the byte-level tokenizer.
pub fn model(config: &LlamaConfig, seed: u64) -> Result<crate::Model, ModelError> {
    config.validate()?;
    let weights = crate::Weights::from_safetensors(config, &weights(config, seed))?;
    Ok(crate::Model {
        config: config.clone(),
        weights,
        tokenizer: crate::tokenizer::Tokenizer::ByteLevel,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    std::fs::write(path, bytes).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The tensors of `config`, drawn in name order from `seed`, as safetensors.
fn weights(config: &LlamaConfig, seed: u64) -> Vec<u8> {
    let (hidden, ffn, vocab) = (config.hidden_size, config.intermediate_size, config.vocab_size);
    let q_width = config.num_attention_heads * config.head_dim();
    let kv_width = config.kv_heads() * config.head_dim();
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("model.embed_tokens.weight".into(), vec![vocab, hidden]),
        ("model.norm.weight".into(), vec![hidden]),
    ];
    if !config.tie_word_embeddings {
        shapes.push(("lm_head.weight".into(), vec![vocab, hidden]));
    }
    for index in 0..config.num_hidden_layers {
        let name = |part: &str| format!("model.layers.{index}.{part}.weight");
        shapes.extend([
            (name("input_layernorm"), vec![hidden]),
            (name("post_attention_layernorm"), vec![hidden]),
            (name("self_attn.q_proj"), vec![q_width, hidden]),
            (name("self_attn.k_proj"), vec![kv_width, hidden]),
            (name("self_attn.v_proj"), vec![kv_width, hidden]),
            (name("self_attn.o_proj"), vec![hidden, q_width]),
            (name("mlp.gate_proj"), vec![ffn, hidden]),
            (name("mlp.up_proj"), vec![ffn, hidden]),
            (name("mlp.down_proj"), vec![hidden, ffn]),
        ]);
    }
    shapes.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = shapes
        .into_iter()
        .map(|(name, shape)| {
            let values = draw(&mut rng, &name, &shape);
            let bytes = values.iter().flat_map(|value| value.to_le_bytes()).collect();
            (name, shape, bytes)
        })
        .collect();
    let views = data.iter().map(|(name, shape, bytes)| {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes).expect("the bytes fill the shape");
        (name.as_str(), view)
    });
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::serialize(views, Some(metadata)).expect("the test model serialises")
}

/// Norm weights near one; matrices uniform in ±1/√fan-in (embeddings ±1).
fn draw(rng: &mut ChaCha8Rng, name: &str, shape: &[usize]) -> Vec<f32> {
    let count: usize = shape.iter().product();
    let unit = |rng: &mut ChaCha8Rng| (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
    if shape.len() == 1 {
        return (0..count).map(|_| 1.0 + 0.1 * unit(rng)).collect();
    }
    let bound = match name.contains("embed_tokens") {
        true => 1.0,
        false => 1.0 / (shape[1] as f32).sqrt(),
    };
    (0..count).map(|_| bound * unit(rng)).collect()
}

//! GGUF models: the test model written as llama.cpp's converter writes it (rotary
//! pairs interleaved, a byte-level BPE vocabulary) runs to the same logits and tokens
//! as its safetensors form; quantized blocks dequantize as the format defines; a
//! damaged file is refused by name.
//!
//! proves: D2

use std::sync::Arc;

use ndarray::Array2;
use psionic_model::gguf::{GGUF_FILE, GgufError, GgufFile, TensorType};
use psionic_model::make_test::{test_config, write};
use psionic_model::sampling::greedy;
use psionic_model::{Model, ModelError, Session};

/// A GGUF file being written: metadata, then tensors (F32 unless given raw).
#[derive(Default)]
struct GgufWriter {
    metadata: Vec<u8>,
    metadata_count: u64,
    infos: Vec<u8>,
    data: Vec<u8>,
    tensor_count: u64,
}

fn string(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

impl GgufWriter {
    fn key(&mut self, key: &str, value_type: u32) {
        string(&mut self.metadata, key);
        self.metadata.extend_from_slice(&value_type.to_le_bytes());
        self.metadata_count += 1;
    }

    fn int(&mut self, key: &str, value: u32) {
        self.key(key, 4);
        self.metadata.extend_from_slice(&value.to_le_bytes());
    }

    fn float(&mut self, key: &str, value: f32) {
        self.key(key, 6);
        self.metadata.extend_from_slice(&value.to_le_bytes());
    }

    fn text(&mut self, key: &str, value: &str) {
        self.key(key, 8);
        string(&mut self.metadata, value);
    }

    fn strings(&mut self, key: &str, values: &[String]) {
        self.key(key, 9);
        self.metadata.extend_from_slice(&8u32.to_le_bytes());
        self.metadata.extend_from_slice(&(values.len() as u64).to_le_bytes());
        for value in values {
            string(&mut self.metadata, value);
        }
    }

    fn raw(&mut self, name: &str, dims: &[u64], tensor_type: u32, bytes: &[u8]) {
        while !self.data.len().is_multiple_of(32) {
            self.data.push(0);
        }
        string(&mut self.infos, name);
        self.infos.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for dim in dims {
            self.infos.extend_from_slice(&dim.to_le_bytes());
        }
        self.infos.extend_from_slice(&tensor_type.to_le_bytes());
        self.infos.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        self.data.extend_from_slice(bytes);
        self.tensor_count += 1;
    }

    /// A matrix of `rows` by `cols`, stored as `[cols, rows]` in F32.
    fn matrix(&mut self, name: &str, matrix: &Array2<f32>) {
        let bytes: Vec<u8> = matrix.iter().flat_map(|value| value.to_le_bytes()).collect();
        self.raw(name, &[matrix.ncols() as u64, matrix.nrows() as u64], 0, &bytes);
    }

    fn vector(&mut self, name: &str, values: &ndarray::Array1<f32>) {
        let bytes: Vec<u8> = values.iter().flat_map(|value| value.to_le_bytes()).collect();
        self.raw(name, &[values.len() as u64], 0, &bytes);
    }

    fn finish(self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&self.tensor_count.to_le_bytes());
        out.extend_from_slice(&self.metadata_count.to_le_bytes());
        out.extend_from_slice(&self.metadata);
        out.extend_from_slice(&self.infos);
        while !out.len().is_multiple_of(32) {
            out.push(0);
        }
        out.extend_from_slice(&self.data);
        out
    }
}

/// The rows of each head's rotary pairs interleaved, as llama.cpp's converter writes
/// queries and keys.
fn interleave(halves: &Array2<f32>, heads: usize) -> Array2<f32> {
    let head_dim = halves.nrows() / heads;
    let half = head_dim / 2;
    let mut interleaved = halves.clone();
    for head in 0..heads {
        for pair in 0..half {
            for (part, source) in [pair, half + pair].into_iter().enumerate() {
                let target = head * head_dim + 2 * pair + part;
                interleaved
                    .row_mut(target)
                    .assign(&halves.row(head * head_dim + source));
            }
        }
    }
    interleaved
}

/// GPT-2's printable spelling of each byte, in byte order (a vocabulary whose token
/// `b` is byte `b`).
fn byte_tokens() -> Vec<String> {
    let printable = |byte: u8| matches!(byte, 33..=126 | 161..=172 | 174..=255);
    let mut next = 256u32;
    (0..=255u8)
        .map(|byte| match printable(byte) {
            true => char::from(byte).to_string(),
            false => {
                next += 1;
                char::from_u32(next - 1).unwrap().to_string()
            }
        })
        .collect()
}

/// The test model of `seed` as a GGUF file.
fn test_model_gguf(model: &Model) -> Vec<u8> {
    let config = &model.config;
    let mut file = GgufWriter::default();
    file.text("general.architecture", "llama");
    file.int("llama.block_count", config.num_hidden_layers as u32);
    file.int("llama.context_length", config.max_position_embeddings as u32);
    file.int("llama.embedding_length", config.hidden_size as u32);
    file.int("llama.feed_forward_length", config.intermediate_size as u32);
    file.int("llama.attention.head_count", config.num_attention_heads as u32);
    file.int("llama.attention.head_count_kv", config.kv_heads() as u32);
    file.float("llama.rope.freq_base", config.rope_theta);
    file.float("llama.attention.layer_norm_rms_epsilon", config.rms_norm_eps);
    file.text("tokenizer.ggml.model", "gpt2");
    file.strings("tokenizer.ggml.tokens", &byte_tokens());
    file.strings("tokenizer.ggml.merges", &[]);
    let weights = &model.weights;
    file.matrix("token_embd.weight", &weights.embed);
    file.vector("output_norm.weight", &weights.norm);
    if let Some(head) = &weights.lm_head {
        file.matrix("output.weight", head);
    }
    for (index, layer) in weights.layers.iter().enumerate() {
        let name = |part: &str| format!("blk.{index}.{part}.weight");
        file.vector(&name("attn_norm"), &layer.attn_norm);
        file.matrix(&name("attn_q"), &interleave(&layer.wq, config.num_attention_heads));
        file.matrix(&name("attn_k"), &interleave(&layer.wk, config.kv_heads()));
        file.matrix(&name("attn_v"), &layer.wv);
        file.matrix(&name("attn_output"), &layer.wo);
        file.vector(&name("ffn_norm"), &layer.ffn_norm);
        file.matrix(&name("ffn_gate"), &layer.w_gate);
        file.matrix(&name("ffn_up"), &layer.w_up);
        file.matrix(&name("ffn_down"), &layer.w_down);
    }
    file.finish()
}

fn greedy_run(model: Arc<Model>, prompt: &[u8], count: usize) -> (Vec<f32>, Vec<u32>) {
    let mut session = Session::new(Arc::clone(&model), prompt.len() + count).unwrap();
    let mut logits = session.forward(&model.tokenizer.encode(prompt)).unwrap();
    let first = logits.clone();
    let mut tokens = Vec::new();
    for _ in 0..count {
        let token = greedy(&logits);
        tokens.push(token);
        logits = session.forward(&[token]).unwrap();
    }
    (first, tokens)
}

#[test]
fn the_test_model_as_gguf_runs_as_its_safetensors_form() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &test_config(), 3).unwrap();
    let safetensors = Arc::new(Model::load(dir.path()).unwrap());
    let gguf_dir = tempfile::tempdir().unwrap();
    std::fs::write(gguf_dir.path().join(GGUF_FILE), test_model_gguf(&safetensors)).unwrap();
    let gguf = Arc::new(Model::load(gguf_dir.path()).unwrap());
    assert!(matches!(gguf.tokenizer, psionic_model::tokenizer::Tokenizer::Bpe(_)));
    let (logits, tokens) = greedy_run(Arc::clone(&gguf), b"hello gguf", 12);
    let (expected_logits, expected_tokens) = greedy_run(safetensors, b"hello gguf", 12);
    assert_eq!(logits, expected_logits, "the same weights, in the same order");
    assert_eq!(tokens, expected_tokens);
    assert_eq!(
        gguf.tokenizer.decode(&gguf.tokenizer.encode(b"hello gguf")),
        b"hello gguf"
    );
}

#[test]
fn quantized_blocks_dequantize_as_the_format_defines() {
    let half = |value: f32| half::f16::from_f32(value).to_le_bytes();
    // Q8_0: scale 0.5, values -4..28.
    let mut q8 = half(0.5).to_vec();
    q8.extend((0..32).map(|at| (at as i8 - 4) as u8));
    let values = TensorType::Q8_0.dequantize(&q8);
    assert_eq!(values[0], -2.0);
    assert_eq!(values[31], 13.5);
    // Q4_1: scale 2, minimum -1; the low nibbles are the first sixteen values.
    let mut q4 = half(2.0).to_vec();
    q4.extend(half(-1.0));
    q4.extend((0..16).map(|at| (at as u8) | (15 - at as u8) << 4));
    let values = TensorType::Q4_1.dequantize(&q4);
    assert_eq!(&values[..3], &[-1.0, 1.0, 3.0]);
    assert_eq!(values[16], 29.0);
    // Q4_0: value 8 is zero.
    let mut q40 = half(1.0).to_vec();
    q40.extend([0x88u8; 16]);
    assert!(TensorType::Q4_0.dequantize(&q40).iter().all(|value| *value == 0.0));
}

#[test]
fn a_damaged_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &test_config(), 3).unwrap();
    let model = Model::load(dir.path()).unwrap();
    let bytes = test_model_gguf(&model);
    let truncated = GgufFile::parse(&bytes[..bytes.len() - 100]).unwrap_err();
    assert!(
        matches!(
            truncated,
            GgufError::Truncated {
                what: "a tensor's data",
                ..
            }
        ),
        "{truncated:?}"
    );
    assert!(matches!(
        GgufFile::parse(b"GGML\x03\0\0\0"),
        Err(GgufError::Magic { .. })
    ));
    let mut huge = bytes.clone();
    huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(GgufFile::parse(&huge), Err(GgufError::TooLarge { .. })));
    for cut in [10, 40, 400, 4_000] {
        assert!(GgufFile::parse(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let gguf_dir = tempfile::tempdir().unwrap();
    std::fs::write(gguf_dir.path().join(GGUF_FILE), &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(Model::load(gguf_dir.path()), Err(ModelError::Gguf(_))));
}

//! The check a device passes before the node declares it can run models: a small
//! seeded model run on the device and on the CPU, their logits compared.

use std::sync::Arc;

use psionic_core::backend::BackendRefusal;
use psionic_model::{LlamaConfig, Session, make_test};

use super::{CudaDevice, DeviceModel, DeviceSession, ForwardError, PREFILL_CHUNK_ROWS};

/// Largest difference between the device's logits and the CPU's the self-test
/// accepts, in millionths.
pub const SELF_TEST_ERROR_MILLIONTHS_MAX: u64 = 2_000;

/// The self-test models: two layers each; the first small with grouped-query
/// attention and a prompt just past one chunk, the second with heads of 128, tied
/// embeddings and a prompt of ten chunks (every kernel's strided loops run more
/// than once).
fn self_test_models() -> [(LlamaConfig, usize); 2] {
    let small = LlamaConfig {
        hidden_size: 64,
        intermediate_size: 160,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        max_position_embeddings: 64,
        ..make_test::test_config()
    };
    let wide = LlamaConfig {
        hidden_size: 512,
        intermediate_size: 704,
        num_attention_heads: 4,
        max_position_embeddings: 400,
        tie_word_embeddings: true,
        ..small.clone()
    };
    [(small, PREFILL_CHUNK_ROWS + 8), (wide, 10 * PREFILL_CHUNK_ROWS + 3)]
}

/// Runs each self-test model on `device` and on the CPU (a prompt, then two single
/// tokens) and compares every logit; returns the largest difference in millionths.
pub fn self_test(device: &Arc<CudaDevice>) -> Result<u64, BackendRefusal> {
    let mut error = 0.0f32;
    for (config, prompt_len) in self_test_models() {
        error = error.max(largest_difference(device, &config, prompt_len)?);
    }
    let error_millionths = (f64::from(error) * 1e6).min(u64::MAX as f64) as u64;
    if error_millionths > SELF_TEST_ERROR_MILLIONTHS_MAX {
        return Err(BackendRefusal::SelfTest {
            error_millionths,
            allowed_millionths: SELF_TEST_ERROR_MILLIONTHS_MAX,
        });
    }
    Ok(error_millionths)
}

fn largest_difference(
    device: &Arc<CudaDevice>,
    config: &LlamaConfig,
    prompt_len: usize,
) -> Result<f32, BackendRefusal> {
    let model = Arc::new(make_test::model(config, 7).expect("the self-test models are valid"));
    let prompt: Vec<u32> = (0..prompt_len as u32).map(|i| i * 37 % 256).collect();
    let steps = [prompt, vec![3], vec![250]];
    let capacity = steps.iter().map(Vec::len).sum();
    let mut cpu = Session::new(Arc::clone(&model), capacity).expect("within the self-test model's positions");
    let uploaded = DeviceModel::upload(device, &model)?;
    let mut gpu = DeviceSession::new(uploaded, capacity).map_err(refusal)?;
    let mut error = 0.0f32;
    for tokens in &steps {
        let expected = cpu.forward(tokens).expect("the self-test tokens run on the CPU");
        let found = gpu.forward(tokens).map_err(refusal)?;
        for (a, b) in expected.iter().zip(&found) {
            error = error.max(if b.is_finite() { (a - b).abs() } else { f32::INFINITY });
        }
    }
    Ok(error)
}

fn refusal(error: ForwardError) -> BackendRefusal {
    match error {
        ForwardError::Device(fault) => fault.into(),
        ForwardError::Model(error) => unreachable!("the self-test's tokens fit its model: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_test_models_are_valid_and_their_steps_fit() {
        for (config, prompt_len) in self_test_models() {
            config.validate().unwrap();
            assert!(prompt_len + 2 <= config.max_position_embeddings);
            assert!(prompt_len > PREFILL_CHUNK_ROWS, "the prompt spans more than one chunk");
        }
    }
}

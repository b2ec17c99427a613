//! Tokens per second of greedy decoding on the CPU and on CUDA device 0, for the test
//! model and a model of SmolLM2-135M's shape with seeded weights (the cost of the
//! demo model without its download). Prints one JSON line per model and backend.
//!
//!   cargo run --release -p psionic-cuda --example throughput [-- TOKENS]

fn main() {
    #[cfg(not(madsim))]
    measured::main();
}

/// Only real devices are measured: a simulation build has no driver.
#[cfg(not(madsim))]
mod measured {
    use std::sync::Arc;
    use std::time::Instant;

    use psionic_cuda::forward::{CudaDevice, DeviceModel, DeviceSession};
    use psionic_model::sampling::{Sampler, Sampling};
    use psionic_model::{LlamaConfig, Model, Session, make_test};

    fn smollm2_135m_shape() -> LlamaConfig {
        LlamaConfig {
            vocab_size: 49_152,
            hidden_size: 576,
            intermediate_size: 1_536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: Some(3),
            max_position_embeddings: 2_048,
            rope_theta: 100_000.0,
            tie_word_embeddings: true,
            ..make_test::test_config()
        }
    }

    /// Decodes `tokens` greedily after a 16-token prompt through `forward`; tokens/s of
    /// the decode steps alone.
    fn measure(tokens: usize, mut forward: impl FnMut(&[u32]) -> Vec<f32>) -> (f64, Vec<u32>) {
        let prompt: Vec<u32> = (0..16).map(|i| 65 + i).collect();
        let mut logits = forward(&prompt);
        let mut sampler = Sampler::new(Sampling::Greedy);
        let mut produced = Vec::with_capacity(tokens);
        let started = Instant::now();
        for _ in 0..tokens {
            let token = sampler.next(&logits);
            produced.push(token);
            logits = forward(&[token]);
        }
        (tokens as f64 / started.elapsed().as_secs_f64(), produced)
    }

    pub fn main() {
        let tokens: usize = std::env::args()
            .nth(1)
            .map_or(64, |arg| arg.parse().expect("TOKENS is a count"));
        let device = CudaDevice::open(0);
        if let Err(reason) = &device {
            eprintln!("cuda: not measured ({reason})");
        }
        for (name, config) in [
            ("test-model", make_test::test_config()),
            ("smollm2-135m-shape", smollm2_135m_shape()),
        ] {
            let model: Arc<Model> = Arc::new(make_test::model(&config, 1).expect("a valid shape"));
            let capacity = 16 + tokens + 1;
            let mut cpu = Session::new(Arc::clone(&model), capacity).expect("within the model's positions");
            let (cpu_rate, cpu_tokens) = measure(tokens, |t| cpu.forward(t).expect("the CPU runs it"));
            println!(r#"{{"model":"{name}","backend":"cpu","tokens":{tokens},"tokens_per_s":{cpu_rate:.1}}}"#);
            if let Ok(device) = &device {
                let uploaded = DeviceModel::upload(device, &model).expect("the weights fit the device");
                let mut gpu = DeviceSession::new(uploaded, capacity).expect("within the model's positions");
                let (gpu_rate, gpu_tokens) = measure(tokens, |t| gpu.forward(t).expect("the device runs it"));
                let same = gpu_tokens == cpu_tokens;
                println!(
                    r#"{{"model":"{name}","backend":"cuda","tokens":{tokens},"tokens_per_s":{gpu_rate:.1},"tokens_equal_cpu":{same}}}"#
                );
            }
        }
    }
}

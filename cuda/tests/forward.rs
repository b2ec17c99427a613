//! The forward pass on a CUDA device against the CPU's, on the test model: greedy
//! tokens identical, logits within the self-test's bound. Runs where a device opens;
//! elsewhere it says why it skipped, and fails instead when `PSIONIC_REQUIRE_CUDA=1`
//! (as `.ci/gpu-check` sets it).
//!
//! proves: D2
#![cfg(not(madsim))]

use std::sync::Arc;

use psionic_cuda::forward::{CudaDevice, DeviceModel, DeviceSession, SELF_TEST_ERROR_MILLIONTHS_MAX, self_test};
use psionic_model::sampling::{Sampler, Sampling};
use psionic_model::{Session, make_test};

fn device() -> Option<Arc<CudaDevice>> {
    match CudaDevice::open(0) {
        Ok(device) => Some(device),
        Err(reason) if std::env::var("PSIONIC_REQUIRE_CUDA").as_deref() == Ok("1") => {
            panic!("PSIONIC_REQUIRE_CUDA=1 but device 0 did not open: {reason}")
        }
        Err(reason) => {
            eprintln!("skipped: no CUDA device opens here ({reason})");
            None
        }
    }
}

#[test]
fn greedy_tokens_on_the_device_equal_the_cpus_on_the_test_model() {
    let Some(device) = device() else { return };
    let model = Arc::new(make_test::model(&make_test::test_config(), 1).unwrap());
    let prompt: Vec<u32> = "The cluster elects a coordinator and".bytes().map(u32::from).collect();
    let steps = 48;
    let capacity = prompt.len() + steps;
    let mut cpu = Session::new(Arc::clone(&model), capacity).unwrap();
    let uploaded = DeviceModel::upload(&device, &model).unwrap();
    let mut gpu = DeviceSession::new(uploaded, capacity).unwrap();
    let (mut cpu_logits, mut gpu_logits) = (cpu.forward(&prompt).unwrap(), gpu.forward(&prompt).unwrap());
    let (mut cpu_sampler, mut gpu_sampler) = (Sampler::new(Sampling::Greedy), Sampler::new(Sampling::Greedy));
    let (mut cpu_tokens, mut gpu_tokens, mut error) = (Vec::new(), Vec::new(), 0.0f32);
    for _ in 0..steps {
        for (a, b) in cpu_logits.iter().zip(&gpu_logits) {
            error = error.max((a - b).abs());
        }
        let (cpu_token, gpu_token) = (cpu_sampler.next(&cpu_logits), gpu_sampler.next(&gpu_logits));
        cpu_tokens.push(cpu_token);
        gpu_tokens.push(gpu_token);
        cpu_logits = cpu.forward(&[cpu_token]).unwrap();
        gpu_logits = gpu.forward(&[gpu_token]).unwrap();
    }
    eprintln!("largest logit difference over {steps} tokens: {error}");
    assert_eq!(gpu_tokens, cpu_tokens);
    assert!(
        f64::from(error) * 1e6 <= SELF_TEST_ERROR_MILLIONTHS_MAX as f64,
        "logits differ by {error}"
    );
}

#[test]
fn the_self_test_passes_on_a_working_device() {
    let Some(device) = device() else { return };
    let error_millionths = self_test(&device).unwrap();
    assert!(error_millionths <= SELF_TEST_ERROR_MILLIONTHS_MAX);
}

#[test]
fn a_token_outside_the_vocabulary_is_refused_before_the_device_runs() {
    let Some(device) = device() else { return };
    let model = make_test::model(&make_test::test_config(), 1).unwrap();
    let mut gpu = DeviceSession::new(DeviceModel::upload(&device, &model).unwrap(), 8).unwrap();
    let refused = gpu.forward(&[1, 256]).unwrap_err();
    assert!(matches!(
        refused,
        psionic_cuda::forward::ForwardError::Model(psionic_model::ModelError::Token { token: 256, .. })
    ));
    assert_eq!(gpu.positions(), 0);
}

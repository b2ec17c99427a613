use std::sync::Arc;

use psionic_core::backend::Backend;
use psionic_core::dispatch::{ExecutionError, ModelRefusal};
use psionic_core::serving::Job;
use psionic_core::state::Residency;
use psionic_core::{Digest, RequestId};
use psionic_model::make_test::{test_config, write};

use super::{Models, Scanner, artifact_digest};
use crate::execute::{Executor, ModelExecutor};

fn job(artifact: Digest, prompt: &[u8], max_tokens: u32) -> Job {
    Job {
        request: RequestId([1; 16]),
        artifact,
        backend: Backend::Cpu,
        device: None,
        prompt: prompt.to_vec(),
        max_tokens,
        class: 0,
        stream: false,
        sampling: psionic_core::dispatch::Sampling::Greedy,
    }
}

fn replace_with_scan(models: &Models, dir: &std::path::Path) {
    let mut scanner = Scanner::new(dir.to_path_buf());
    let found = scanner.scan();
    models.replace(found, scanner.take_loaded());
}

#[test]
fn a_scan_finds_each_model_by_the_digest_of_its_files_and_sees_them_change() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a"), &test_config(), 1).unwrap();
    write(&dir.path().join("b"), &test_config(), 1).unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let mut scanner = Scanner::new(dir.path().to_path_buf());
    let found = scanner.scan();
    let (digest, bytes) = artifact_digest(&dir.path().join("a")).unwrap();
    assert_eq!(
        found.keys().copied().collect::<Vec<_>>(),
        [digest],
        "the same files are one artifact"
    );
    assert_eq!(found[&digest].also_named, ["b"], "known by both names");
    assert_eq!((found[&digest].name.as_str(), found[&digest].bytes), ("a", bytes));
    assert_eq!(found[&digest].residency, Residency::Resident);
    // Truncating a's weights makes it another artifact, which fails its checks.
    let weights = dir.path().join("a").join(psionic_model::WEIGHTS_FILE);
    let full = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &full[..full.len() / 2]).unwrap();
    let found = scanner.scan();
    assert_eq!(found.len(), 2);
    assert_eq!(found[&digest].name, "b");
    let (damaged, _) = artifact_digest(&dir.path().join("a")).unwrap();
    assert_eq!(found[&damaged].residency, Residency::Failed);
    assert!(
        found[&damaged]
            .problem
            .as_deref()
            .unwrap()
            .contains("model.safetensors")
    );
}

#[test]
fn the_executor_runs_a_held_model_greedily_and_refuses_what_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("test"), &test_config(), 2).unwrap();
    let models = Arc::new(Models::default());
    replace_with_scan(&models, dir.path());
    let (digest, _) = artifact_digest(&dir.path().join("test")).unwrap();
    let executor = ModelExecutor::new(Arc::clone(&models));
    let mut run = executor.prefill(&job(digest, b"hello", 8)).unwrap();
    let tokens: Vec<u32> = (0..8).map(|_| run.decode().unwrap()).collect();
    let model = models.model(digest).unwrap();
    let mut session = psionic_model::Session::new(model, 13).unwrap();
    let mut logits = session.forward(&b"hello".map(u32::from)).unwrap();
    let mut expected = Vec::new();
    for _ in 0..8 {
        let token = psionic_model::sampling::greedy(&logits);
        expected.push(token);
        logits = session.forward(&[token]).unwrap();
    }
    assert_eq!(tokens, expected);
    let absent = Digest([9; 32]);
    assert!(matches!(
        executor.prefill(&job(absent, b"hi", 1)).err(),
        Some(ExecutionError::Model(ModelRefusal::NotHeld { artifact })) if artifact == absent
    ));
    assert!(matches!(
        executor.prefill(&job(digest, b"hi", 1_023)).err(),
        Some(ExecutionError::Model(ModelRefusal::TooLong {
            asked: 1_025,
            max: 1_024
        }))
    ));
}

#[test]
fn cuda_is_declared_only_for_devices_that_passed_the_self_test_and_runs_the_cpus_tokens() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("test"), &test_config(), 2).unwrap();
    let models = Arc::new(Models::default());
    replace_with_scan(&models, dir.path());
    let (digest, _) = artifact_digest(&dir.path().join("test")).unwrap();
    let executor = ModelExecutor::new(models);
    let (profiles, refusals) = (executor.profiles(), executor.refusals());
    assert!(profiles.contains_key(&Backend::Cpu), "the CPU always runs models");
    let on = |backend| Job {
        backend,
        ..job(digest, b"same tokens", 16)
    };
    match refusals.get(&Backend::Cuda) {
        Some(reason) => {
            eprintln!("CUDA refused here: {reason}");
            assert!(!profiles.contains_key(&Backend::Cuda));
            assert!(matches!(
                executor.prefill(&on(Backend::Cuda)).err(),
                Some(ExecutionError::Backend { backend: Backend::Cuda })
            ));
        }
        None => {
            assert!(profiles.contains_key(&Backend::Cuda));
            let tokens = |backend| {
                let mut run = executor.prefill(&on(backend)).unwrap();
                (0..16).map(|_| run.decode().unwrap()).collect::<Vec<u32>>()
            };
            assert_eq!(tokens(Backend::Cuda), tokens(Backend::Cpu));
        }
    }
}

#[test]
fn a_seeded_request_draws_the_same_tokens_every_time_and_another_seed_others() {
    use psionic_core::dispatch::Sampling;

    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("test"), &test_config(), 4).unwrap();
    let models = Arc::new(Models::default());
    replace_with_scan(&models, dir.path());
    let (digest, _) = artifact_digest(&dir.path().join("test")).unwrap();
    let executor = ModelExecutor::new(models);
    let run = |sampling: Sampling| {
        let mut run = executor
            .prefill(&Job {
                sampling,
                ..job(digest, b"seeded", 24)
            })
            .unwrap();
        (0..24).map(|_| run.decode().unwrap()).collect::<Vec<u32>>()
    };
    let hot = |seed| Sampling::Seeded {
        temperature_milli: 1_500,
        seed,
    };
    assert_eq!(run(hot(5)), run(hot(5)));
    assert_ne!(run(hot(5)), run(hot(6)));
    assert_ne!(run(hot(5)), run(Sampling::Greedy));
    let reference = crate::execute::ReferenceExecutor::cpu();
    assert!(matches!(
        reference
            .prefill(&Job {
                sampling: hot(5),
                ..job(digest, b"x", 1)
            })
            .err(),
        Some(ExecutionError::Model(ModelRefusal::GreedyOnly))
    ));
}

#[test]
fn a_model_the_executor_cannot_run_is_found_failed_and_a_fifo_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut wide = test_config();
    wide.vocab_size = 128;
    write(&dir.path().join("wide"), &wide, 1).unwrap();
    std::fs::create_dir(dir.path().join("fifo")).unwrap();
    let fifo = dir.path().join("fifo").join(psionic_model::CONFIG_FILE);
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let mut scanner = Scanner::new(dir.path().to_path_buf());
    let found = scanner.scan();
    assert_eq!(found.len(), 1, "the FIFO is not a model file: {found:?}");
    let wide = found.values().next().unwrap();
    assert_eq!((wide.name.as_str(), wide.residency), ("wide", Residency::Failed));
    assert!(
        wide.problem.as_deref().unwrap().contains("vocabulary of 128"),
        "{:?}",
        wide.problem
    );
    assert!(scanner.take_loaded().is_empty(), "only models that run are kept loaded");
}

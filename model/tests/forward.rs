//! The CPU forward pass against the plain reference, on the seeded test model.
//!
//! proves: D2

use std::sync::Arc;

use psionic_model::make_test::{test_config, write};
use psionic_model::sampling::greedy;
use psionic_model::{Model, ModelError, Session, reference};

fn test_model(seed: u64) -> (tempfile::TempDir, Model) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &test_config(), seed).unwrap();
    let model = Model::load(dir.path()).unwrap();
    (dir, model)
}

fn close(ours: &[f32], theirs: &[f32]) -> Result<(), String> {
    let scale = theirs.iter().fold(1.0f32, |max, v| max.max(v.abs()));
    for (index, (a, b)) in ours.iter().zip(theirs).enumerate() {
        if (a - b).abs() > 1e-4 * scale {
            return Err(format!("logit {index}: {a} against the reference's {b}"));
        }
    }
    Ok(())
}

#[test]
fn the_same_seed_writes_the_same_model_and_another_seed_another() {
    let [a, b, c] = [1, 1, 2].map(|seed| {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &test_config(), seed).unwrap();
        std::fs::read(dir.path().join(psionic_model::WEIGHTS_FILE)).unwrap()
    });
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.len() > 1_000_000 && a.len() < 8_000_000, "a few MB: {}", a.len());
}

#[test]
fn logits_after_every_position_match_the_reference() {
    let (_dir, model) = test_model(7);
    let prompt: Vec<u32> = b"the cluster agrees".iter().map(|b| u32::from(*b)).collect();
    let expected = reference::logits(&model, &prompt);
    let model = Arc::new(model);
    // Token by token through the cache, and the whole prompt at once.
    let mut stepped = Session::new(Arc::clone(&model), prompt.len()).unwrap();
    for (position, token) in prompt.iter().enumerate() {
        let logits = stepped.forward(&[*token]).unwrap();
        close(&logits, &expected[position]).unwrap_or_else(|error| panic!("position {position}: {error}"));
    }
    let mut whole = Session::new(model, prompt.len()).unwrap();
    close(&whole.forward(&prompt).unwrap(), expected.last().unwrap()).unwrap();
}

#[test]
fn greedy_tokens_equal_the_reference_exactly() {
    let (_dir, model) = test_model(3);
    let mut tokens: Vec<u32> = b"hello".iter().map(|b| u32::from(*b)).collect();
    let produce = 24;
    let model = Arc::new(model);
    let mut session = Session::new(Arc::clone(&model), tokens.len() + produce).unwrap();
    let mut logits = session.forward(&tokens).unwrap();
    let mut ours = Vec::new();
    for _ in 0..produce {
        let token = greedy(&logits);
        ours.push(token);
        logits = session.forward(&[token]).unwrap();
    }
    let mut theirs = Vec::new();
    for _ in 0..produce {
        let token = greedy(reference::logits(&model, &tokens).last().unwrap());
        theirs.push(token);
        tokens.push(token);
    }
    assert_eq!(ours, theirs);
    let distinct: std::collections::BTreeSet<_> = ours.iter().collect();
    assert!(distinct.len() > 1, "the test model says more than one token: {ours:?}");
}

#[test]
fn a_sequence_past_its_capacity_or_a_token_outside_the_vocabulary_is_refused() {
    let (_dir, model) = test_model(1);
    let model = Arc::new(model);
    assert!(matches!(
        Session::new(Arc::clone(&model), 1_025),
        Err(ModelError::TooLong {
            asked: 1_025,
            max: 1_024
        })
    ));
    let mut session = Session::new(model, 2).unwrap();
    assert!(matches!(
        session.forward(&[256]),
        Err(ModelError::Token { token: 256, .. })
    ));
    assert!(matches!(
        session.forward(&[1, 2, 3]),
        Err(ModelError::TooLong { asked: 3, max: 2 })
    ));
    assert!(matches!(session.forward(&[]), Err(ModelError::EmptyPrompt)));
    session.forward(&[1, 2]).unwrap();
    assert_eq!(session.positions(), 2);
}

#[test]
fn a_prompt_run_at_once_gives_the_same_bits_as_token_by_token() {
    // The arithmetic of a position does not depend on how many arrive together (no
    // matrix product, whose kernels the CPU picks at run time): the same request gives
    // the same tokens on any node.
    let (_dir, model) = test_model(9);
    let model = Arc::new(model);
    let prompt: Vec<u32> = b"same bits everywhere".iter().map(|b| u32::from(*b)).collect();
    let mut stepped = Session::new(Arc::clone(&model), prompt.len()).unwrap();
    let mut last = Vec::new();
    for token in &prompt {
        last = stepped.forward(&[*token]).unwrap();
    }
    let mut whole = Session::new(model, prompt.len()).unwrap();
    let at_once = whole.forward(&prompt).unwrap();
    assert!(last.iter().zip(&at_once).all(|(a, b)| a.to_bits() == b.to_bits()));
}

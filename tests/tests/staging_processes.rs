//! Staging between real processes, run as the runbook says: a node copies the test
//! model from the one member that holds it, reports it resident once verified, and
//! serves it after the holder's copy is gone.
//!
//! proves: F7, F12
#![cfg(not(madsim))]

use std::path::Path;
use std::time::Duration;

use psionic_core::backend::Backend;
use psionic_core::dispatch::RequestOutcome;
use psionic_core::state::Residency;
use psionic_net::api::{RequestAnswer, RequestBody, RequestStatus};
use psionic_tests::models::{greedy_tokens, make_test_model, residency};
use psionic_tests::runbook::{runbook_block, try_run_as_written};
use psionic_tests::{NodeProcess, answered, init_node, wait_until, write_token, write_voter_config};

/// Two voters, each with its own models directory (`models-n1`, `models-n2`).
fn two_nodes(dir: &Path) -> (Vec<String>, Vec<NodeProcess>) {
    write_token(&dir.join("token"), "the lab's admission token, 2026\n");
    let ids: Vec<String> = ["n1", "n2"].iter().map(|name| init_node(&dir.join(name))).collect();
    let mut nodes: Vec<NodeProcess> = Vec::new();
    for name in ["n1", "n2"] {
        std::fs::create_dir_all(dir.join(format!("models-{name}"))).unwrap();
        let seeds: Vec<_> = nodes.iter().map(|node| node.listening.discovery_addr).collect();
        let config = write_voter_config(dir, name, &seeds, "token", &ids);
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&format!(
            "\n[artifacts]\ndir = \"models-{name}\"\nscan_interval_ms = 200\n"
        ));
        std::fs::write(&config, text).unwrap();
        nodes.push(NodeProcess::start(&config).unwrap());
    }
    (ids, nodes)
}

fn stage_as_written(dir: &Path, api: &str, digest: &str, node: &str) -> Result<String, String> {
    let script = runbook_block("## Stage a model")
        .replace("127.0.0.1:7480", api)
        .replace("<model digest>", digest)
        .replace("<node id>", node);
    try_run_as_written(dir, &script)
}

#[test]
fn a_model_is_staged_to_a_node_as_the_runbook_says_and_served_there() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, nodes) = two_nodes(dir.path());
    let digest = make_test_model(&dir.path().join("models-n1/test"), 8);
    wait_until(Duration::from_secs(30), "n1 reports the model resident", || {
        residency(&nodes[1], &ids[0], digest) == Some(Residency::Resident)
    });
    let api = nodes[0].listening.operator_addr.to_string();

    // Nobody but n1 holds it: asking n1 to stage it is refused.
    let refused = stage_as_written(dir.path(), &api, &digest.to_hex(), &ids[0]).unwrap_err();
    assert!(refused.contains("already-resident"), "{refused}");

    let said = stage_as_written(dir.path(), &api, &digest.to_hex(), &ids[1]).unwrap();
    assert!(said.contains(&format!("{digest} is resident on {}", ids[1])), "{said}");
    let staged = dir.path().join(format!("models-n2/staged-{}", &digest.to_hex()[..16]));
    for file in ["config.json", "model.safetensors"] {
        assert_eq!(
            std::fs::read(staged.join(file)).unwrap(),
            std::fs::read(dir.path().join("models-n1/test").join(file)).unwrap(),
            "{file} was copied whole"
        );
    }
    assert!(
        std::fs::read_dir(dir.path().join("models-n2/.staging"))
            .unwrap()
            .next()
            .is_none()
    );

    // n1's copy goes: the request runs on n2, with the same tokens.
    let expected = greedy_tokens(&dir.path().join("models-n1/test"), b"hello", 12);
    std::fs::rename(dir.path().join("models-n1/test"), dir.path().join("moved")).unwrap();
    wait_until(Duration::from_secs(20), "n1 reports the model evicted", || {
        residency(&nodes[1], &ids[0], digest) == Some(Residency::Evicted)
    });
    let body = RequestBody {
        backends: vec![Backend::Cpu],
        wait: true,
        ..RequestBody::new(&digest.to_hex(), "hello", 12)
    };
    let (code, answer) = answered(nodes[0].client().submit(&body));
    let RequestAnswer::Request(view) = answer else {
        panic!("{code} {answer:?}")
    };
    let RequestStatus::Ended {
        outcome: RequestOutcome::Completed { tokens, .. },
    } = &view.record.status
    else {
        panic!("not completed: {:?}", view.record.status);
    };
    assert_eq!(tokens, &expected);
    let placed = serde_json::to_string(&view.record.placement).unwrap();
    assert!(
        placed.contains(&ids[1]) && !placed.contains(&ids[0]),
        "placed on n2: {placed}"
    );

    // n2 now holds it: n1 gets its copy back from there.
    let said = stage_as_written(dir.path(), &api, &digest.to_hex(), &ids[0]).unwrap();
    assert!(said.contains(&format!("{digest} is resident on {}", ids[0])), "{said}");
    // A model no member holds is refused by name.
    let refused = stage_as_written(dir.path(), &api, &"ab".repeat(32), &ids[0]).unwrap_err();
    assert!(refused.contains("no-holder"), "{refused}");
}

//! A node serves the models its models directory holds: it reports its own residency
//! of each, runs them, and reports one it no longer holds evicted.
//!
//! proves: F7, D2
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_core::Digest;
use psionic_core::backend::Backend;
use psionic_core::dispatch::{RequestOutcome, SubmitRefusal};
use psionic_core::plan::{Ineligible, PlacementRefusal};
use psionic_core::state::Residency;
use psionic_net::api::{RequestAnswer, RequestBody, RequestFailure, RequestStatus};
use psionic_tests::models::{greedy_text, greedy_tokens, model_node, residency};
use psionic_tests::{NodeProcess, answered, init_node, node_cli, node_id, wait_until, write_token, write_voter_config};

#[test]
fn a_node_runs_the_test_model_from_its_models_directory_and_reports_it_gone() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let (id, node, digest) = model_node(dir.path(), 3);
    let set_by = node.state().report.set_by[&format!("residency/{id}/{digest}")].clone();
    assert!(
        format!("{set_by:?}").contains("Member"),
        "the node reported it itself: {set_by:?}"
    );

    let prompt = "hello cluster";
    let body = RequestBody {
        backends: vec![Backend::Cpu],
        wait: true,
        ..RequestBody::new(&digest.to_hex(), prompt, 24)
    };
    let (code, answer) = answered(node.client().submit(&body));
    let RequestAnswer::Request(view) = answer else {
        panic!("{code} {answer:?}")
    };
    let RequestStatus::Ended {
        outcome: RequestOutcome::Completed { tokens, .. },
    } = &view.record.status
    else {
        panic!("not completed: {:?}", view.record.status);
    };
    assert_eq!(tokens, &greedy_tokens(&models.join("test"), prompt.as_bytes(), 24));

    // Drawn at a temperature: the same seed draws the same tokens under another id; a
    // temperature out of bounds is refused, naming it.
    let seeded = |id: &str, temperature: f64| RequestBody {
        id: Some(id.to_owned()),
        temperature: Some(temperature),
        seed: Some(11),
        ..body.clone()
    };
    let tokens_of = |body: &RequestBody| match answered(node.client().submit(body)) {
        (200, RequestAnswer::Request(view)) => match view.record.status {
            RequestStatus::Ended {
                outcome: RequestOutcome::Completed { tokens, .. },
            } => tokens,
            status => panic!("not completed: {status:?}"),
        },
        other => panic!("{other:?}"),
    };
    let first = tokens_of(&seeded("00000000000000000000000000000001", 1.5));
    assert_eq!(first, tokens_of(&seeded("00000000000000000000000000000002", 1.5)));
    assert_ne!(&first, tokens, "drawn, not greedy");
    let (code, answer) = answered(node.client().submit(&seeded("00000000000000000000000000000003", 10.5)));
    assert!(
        format!("{answer:?}").contains("Temperature { given_milli: 10500, max_milli: 10000 }"),
        "{code} {answer:?}"
    );
    let failure = psionic_tests::failed(node.client().submit(&seeded("00000000000000000000000000000004", -1.0)));
    assert_eq!(failure.0, 400, "{failure:?}");

    // The model is moved away: the node reports it evicted, and nothing is placed there.
    std::fs::rename(models.join("test"), dir.path().join("moved")).unwrap();
    wait_until(Duration::from_secs(20), "the node reports the model evicted", || {
        residency(&node, &id, digest) == Some(Residency::Evicted)
    });
    let (code, answer) = answered(node.client().submit(&body));
    let RequestAnswer::Failed(RequestFailure::Refused {
        refusal: SubmitRefusal::Placement(PlacementRefusal::NoEligibleNode { ineligible, .. }),
        ..
    }) = &answer
    else {
        panic!("{code} {answer:?}");
    };
    assert_eq!(
        ineligible.get(&node_id(&id)),
        Some(&Ineligible::Artifact {
            residency: Some(Residency::Evicted)
        })
    );
}

#[test]
fn a_models_directory_that_is_absent_or_a_reference_step_beside_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026\n");
    let id = init_node(&dir.path().join("n1"));
    let config = write_voter_config(dir.path(), "n1", &[], "token", std::slice::from_ref(&id));
    let base = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{base}\n[artifacts]\ndir = \"absent\"\n")).unwrap();
    let (code, _, stderr) = node_cli(&["run", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("artifacts.dir") && stderr.contains("absent"),
        "{stderr}"
    );
    std::fs::create_dir(dir.path().join("models")).unwrap();
    let both = format!("{base}\n[artifacts]\ndir = \"models\"\n\n[executor]\nreference_step_ms = 5\n");
    std::fs::write(&config, both).unwrap();
    let (code, _, stderr) = node_cli(&["run", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("reference_step_ms"), "{stderr}");
}

#[test]
fn a_model_is_added_as_the_runbook_says() {
    use psionic_tests::runbook::{run_as_written, runbook_block};

    let dir = tempfile::tempdir().unwrap();
    let listed = run_as_written(dir.path(), &runbook_block("## Add a model"));
    let digest = listed
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert!(
        listed.lines().any(|line| line == format!("{digest}  resident  test")),
        "make-test prints the digest, and the list shows it resident: {listed}"
    );
    let runbook = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/RUNBOOK.md")).unwrap();
    let section = &runbook[runbook.find("## Add a model").unwrap()..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let toml = &section[start..start + section[start..].find("```").unwrap()];
    write_token(&dir.path().join("token"), "the lab's admission token, 2026\n");
    let id = init_node(&dir.path().join("n1"));
    let config = write_voter_config(dir.path(), "n1", &[], "token", std::slice::from_ref(&id));
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n{toml}")).unwrap();
    let node = NodeProcess::start(&config).unwrap();
    let digest = Digest(psionic_core::digest::from_hex::<32>(&digest).unwrap());
    wait_until(
        Duration::from_secs(20),
        "the node reports the model resident and its CPU",
        || {
            let cpu_declared = node
                .state()
                .report
                .members
                .iter()
                .any(|member| member.backends.contains_key(&Backend::Cpu));
            cpu_declared && residency(&node, &id, digest) == Some(Residency::Resident)
        },
    );
    let api = node.listening.operator_addr.to_string();
    let (code, members, stderr) = node_cli(&["members", "--operator", &api]);
    assert_eq!(code, 0, "{stderr}");
    let row = members.lines().find(|line| line.starts_with(&id)).unwrap();
    assert_eq!(
        row.split_whitespace().nth(6),
        Some("1"),
        "one resident model: {members}"
    );
    let blocks = psionic_tests::runbook::runbook_blocks("## Add a model");
    let completion = blocks[1].replace("127.0.0.1:7480", &api);
    let said = run_as_written(dir.path(), &completion);
    let answer: psionic_net::api::openai::Completion =
        serde_json::from_str(&said).unwrap_or_else(|error| panic!("{error}: {said}"));
    let expected = greedy_text(&dir.path().join("models/test"), b"hello", 16);
    assert_eq!(answer.choices[0].text, expected, "{said}");
}

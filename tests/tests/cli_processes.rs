//! The client commands and the demo, as an operator runs them.
#![cfg(not(madsim))]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use psionic_tests::{node_binary, node_cli, single_voter_leader, write_token};

#[test]
fn status_members_and_submit_talk_to_a_running_node() {
    let dir = tempfile::tempdir().unwrap();
    let (id, node) = single_voter_leader(dir.path());
    let operator = node.listening.operator_addr.to_string();

    let (code, out, err) = node_cli(&["status", "--operator", &operator]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("leader    {id}")) && out.contains("role      leader"),
        "{out}"
    );

    let token = dir.path().join("operator-token");
    let command = r#"{"set-policy":{"name":"placement","document":[7]}}"#;
    let (code, out, err) = node_cli(&[
        "submit",
        "--operator",
        &operator,
        "--token-file",
        token.to_str().unwrap(),
        command,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("committed at index "), "{out}");

    write_token(&dir.path().join("guess"), "a guess at the operator token");
    let guess = dir.path().join("guess");
    let (code, out, _) = node_cli(&[
        "submit",
        "--operator",
        &operator,
        "--token-file",
        guess.to_str().unwrap(),
        command,
    ]);
    assert_eq!(code, 6, "refused by the node: {out}");
    assert!(out.contains("wrong-token"), "{out}");

    let (code, _, err) = node_cli(&[
        "submit",
        "--operator",
        &operator,
        "--token-file",
        token.to_str().unwrap(),
        "{not json",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not JSON"), "{err}");

    let (code, out, err) = node_cli(&["members", "--operator", &operator, "--json"]);
    assert_eq!(code, 0, "{err}");
    let members: Vec<psionic_net::api::MemberView> = serde_json::from_str(&out).unwrap();
    assert_eq!(members[0].node_id, psionic_tests::node_id(&id));

    let (code, _, err) = node_cli(&["status", "--operator", "127.0.0.1:1"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("cannot reach the operator API at 127.0.0.1:1"), "{err}");
}

#[test]
fn the_demo_commits_on_a_real_cluster_and_stops_cleanly_on_ctrl_c() {
    let mut demo = Command::new(node_binary())
        .args(["demo", "--nodes", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let running = line.starts_with("running");
        seen.push(line);
        if running {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{seen:#?}");
    }
    let text = seen.join("\n");
    assert_eq!(
        seen.iter().filter(|line| line.starts_with("node n")).count(),
        3,
        "{text}"
    );
    assert!(text.contains("committed demo-3 at index"), "{text}");
    assert_eq!(text.matches("\"voter\": true").count(), 3, "{text}");
    let data_dir = seen[0].rsplit(' ').next().unwrap().to_owned();
    assert!(std::path::Path::new(&data_dir).exists());

    let pid = demo.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = demo.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(rest.iter().any(|line| line == "stopped"), "{rest:?}");
    assert!(
        !std::path::Path::new(&data_dir).exists(),
        "the demo cleans up {data_dir}"
    );
}

#[test]
fn devices_reports_cuda_readiness_without_crashing_on_a_machine_without_a_driver() {
    let (code, out, err) = node_cli(&["devices", "--json"]);
    assert_eq!(code, 0, "{err}");
    let readiness: psionic_cuda::CudaReadiness = serde_json::from_str(&out).unwrap();
    match readiness {
        psionic_cuda::CudaReadiness::Ready { inventory } => assert!(!inventory.devices.is_empty()),
        // Any refusal is typed (no-driver, no-device, driver-too-old, driver-error):
        // it decoded, so the probe did not crash.
        psionic_cuda::CudaReadiness::Refused { reason } => assert!(!reason.to_string().is_empty()),
    }
    let (code, out, _) = node_cli(&["devices"]);
    assert_eq!(code, 0);
    assert!(out.contains("cpu       ready"), "{out}");
}

/// The runbook's "Serve on a GPU" check, run as written: every GPU it lists says
/// whether it runs models; without a driver it says CUDA is not ready and why.
#[test]
fn the_runbooks_gpu_check_says_for_each_gpu_whether_it_runs_models() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        psionic_tests::runbook::run_as_written(dir.path(), &psionic_tests::runbook::runbook_block("## Serve on a GPU"));
    let gpus = out.lines().filter(|line| line.starts_with("gpu ")).count();
    let said = out
        .lines()
        .filter(|line| line.contains("runs models") || line.contains("runs no models"))
        .count();
    assert_eq!(said, gpus, "{out}");
    if gpus == 0 {
        assert!(out.contains("cuda      not ready: "), "{out}");
    }
    assert!(out.contains("cpu       ready"), "{out}");
}

//! The operator API over TLS, set up and used exactly as the runbook says: a
//! self-signed certificate from `openssl`, `operator_tls` in the configuration, and
//! clients that trust it. Plain HTTP, and clients trusting another certificate, get
//! nothing; a private key readable by others stops the node.
#![cfg(not(madsim))]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use psionic_tests::runbook::{run_as_written, runbook_blocks};
use psionic_tests::{
    NodeProcess, init_node, node_binary, node_cli, try_http_exchange, wait_until, write_token, write_voter_config,
};

const TLS: &str = "operator_tls = { cert_file = \"operator.crt\", key_file = \"operator.key\" }\n\n[trust]";

/// A single-voter configuration in `dir` serving its API with the runbook's files.
fn tls_config(dir: &Path) -> (String, std::path::PathBuf) {
    write_token(&dir.join("token"), "the lab's admission token, 2026\n");
    let id = init_node(&dir.join("n1"));
    let config = write_voter_config(dir, "n1", &[], "token", std::slice::from_ref(&id));
    let text = std::fs::read_to_string(&config).unwrap().replacen("[trust]", TLS, 1);
    std::fs::write(&config, text).unwrap();
    (id, config)
}

#[test]
fn the_api_speaks_https_to_clients_that_trust_its_certificate_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let blocks = runbook_blocks("## Serve the operator API over TLS");
    run_as_written(dir, &blocks[0]);
    let (id, config) = tls_config(dir);
    let node = NodeProcess::start(&config).unwrap();
    let api = node.listening.operator_addr.to_string();

    let script = blocks[1].replace("127.0.0.1:7480", &api);
    wait_until(Duration::from_secs(20), "the node to lead, seen over TLS", || {
        let said = run_as_written(dir, &script);
        said.contains(&id) && said.contains("\"consensus_role\":\"leader\"")
    });
    let token_file = dir.join("operator-token");
    let (code, out, err) = node_cli(&[
        "submit",
        "--operator",
        &api,
        "--tls-ca",
        dir.join("operator.crt").to_str().unwrap(),
        "--token-file",
        token_file.to_str().unwrap(),
        r#"{"set-policy":{"name":"p","document":[1]}}"#,
    ]);
    assert_eq!(code, 0, "a command commits over TLS: {out}{err}");

    let plain = "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let answer = try_http_exchange(node.listening.operator_addr, plain);
    assert!(answer.is_err(), "plain HTTP gets no answer: {answer:?}");
    let (code, _, err) = node_cli(&["status", "--operator", &api]);
    assert_eq!(code, 5, "a client without --tls-ca cannot talk to it: {err}");

    let other = tempfile::tempdir().unwrap();
    run_as_written(other.path(), &blocks[0]);
    let foreign = other.path().join("operator.crt");
    let (code, _, err) = node_cli(&["status", "--operator", &api, "--tls-ca", foreign.to_str().unwrap()]);
    assert_eq!(code, 5, "a client trusting another certificate refuses the node: {err}");
    assert!(err.contains("certificate"), "{err}");
}

#[test]
fn a_private_key_readable_by_others_stops_the_node_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    run_as_written(dir, &runbook_blocks("## Serve the operator API over TLS")[0]);
    let (_, config) = tls_config(dir);
    Command::new("chmod")
        .args(["644"])
        .arg(dir.join("operator.key"))
        .status()
        .unwrap();
    let output = Command::new(node_binary())
        .arg("run")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("operator.key") && stderr.contains("readable by others"),
        "{stderr}"
    );
}

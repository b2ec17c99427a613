//! The runbook's "Admit only approved binaries", run as written: with the binary's
//! SHA-256 listed, a node running another binary waits as a `not-attested` candidate
//! naming what it measured, one configured with another trust bundle waits on a
//! `trust-mismatch` naming both digests, an operator can admit neither, and a node
//! running the approved binary under the same configuration is admitted.
#![cfg(not(madsim))]

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use psionic_tests::cluster::{CONVERGE, leader_of};
use psionic_tests::runbook::{run_as_written, runbook_blocks};
use psionic_tests::{
    NodeProcess, http_get_json, http_post_json, init_node, node_binary, wait_until, write_config, write_token,
    write_voter_config,
};
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// A runnable copy of the node binary with bytes appended: another measurement.
fn other_binary(dir: &Path) -> (PathBuf, String) {
    let copy = dir.join("psionic-node-other");
    std::fs::copy(node_binary(), &copy).unwrap();
    let mut file = std::fs::OpenOptions::new().append(true).open(&copy).unwrap();
    file.write_all(b"not the approved build").unwrap();
    drop(file);
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let digest = hex::encode(Sha256::digest(std::fs::read(&copy).unwrap()));
    (copy, digest)
}

fn with_allowlist(config: &Path, sha256: &str) {
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str(&format!("\n[attestation]\nallowed_binary_sha256 = [\"{sha256}\"]\n"));
    std::fs::write(config, text).unwrap();
}

#[test]
fn only_nodes_running_an_approved_binary_are_admitted() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let blocks = runbook_blocks("## Admit only approved binaries");
    let said = run_as_written(dir, &blocks[0]);
    let approved = said
        .split_whitespace()
        .next()
        .expect("sha256sum prints the digest")
        .to_owned();
    assert_eq!(approved.len(), 64, "{said}");

    write_token(&dir.join("token"), "the lab's admission token, 2026\n");
    let id = init_node(&dir.join("n1"));
    let config = write_voter_config(dir, "n1", &[], "token", std::slice::from_ref(&id));
    with_allowlist(&config, &approved);
    let leader = NodeProcess::start(&config).unwrap();
    wait_until(CONVERGE, "n1 to lead", || {
        leader_of(&leader).as_deref() == Some(id.as_str())
    });
    let api = leader.listening.operator_addr;
    let seed = [leader.listening.discovery_addr];

    let (other, measured) = other_binary(dir);
    let stranger_id = init_node(&dir.join("n2"));
    let stranger_config = write_config(dir, "n2", &seed, "token");
    with_allowlist(&stranger_config, &approved);
    let _stranger = NodeProcess::start_binary(&other, &["--config".as_ref(), stranger_config.as_os_str()]).unwrap();
    let candidates = blocks[1].replace("127.0.0.1:7480", &api.to_string());
    let expected = format!("not-attested {measured}");
    let mut said = String::new();
    wait_until(CONVERGE, "the stranger to wait, not attested", || {
        said = run_as_written(dir, &candidates);
        said.lines()
            .any(|line| line.starts_with(&stranger_id) && line.ends_with(&expected))
    });
    let admit = |node: &str| json!({ "admit-member": { "node": node, "role": "both" } });
    let (code, answer) = http_post_json(api, "/v1/commands", &admit(&stranger_id));
    assert_eq!(code, 422, "{answer}");
    assert_eq!(answer["reason"]["not-attested"]["node"], json!(stranger_id), "{answer}");

    // A node configured without the allowlist has another trust bundle: it waits,
    // and the refusal names both digests.
    let drifted_id = init_node(&dir.join("n4"));
    let _drifted = NodeProcess::start(&write_config(dir, "n4", &seed, "token")).unwrap();
    let ours = leader.status()["trust"].as_str().unwrap().to_owned();
    wait_until(CONVERGE, "the drifted node to wait on a trust mismatch", || {
        said = run_as_written(dir, &candidates);
        said.lines()
            .any(|line| line.starts_with(&drifted_id) && line.contains(&format!("trust-mismatch ours {ours} theirs ")))
    });
    let (code, answer) = http_post_json(api, "/v1/commands", &admit(&drifted_id));
    assert_eq!(code, 422, "{answer}");
    let mismatch = &answer["reason"]["not-attested"]["refusal"]["trust-mismatch"];
    assert_eq!(mismatch["ours"], json!(ours), "{answer}");
    assert!(mismatch["theirs"].is_string(), "{answer}");

    let approved_id = init_node(&dir.join("n3"));
    let approved_config = write_config(dir, "n3", &seed, "token");
    with_allowlist(&approved_config, &approved);
    let _approved = NodeProcess::start(&approved_config).unwrap();
    wait_until(CONVERGE, "the approved node to be admitted", || {
        http_post_json(api, "/v1/commands", &admit(&approved_id)).0 == 200
    });
    let members = http_get_json(api, "/v1/members");
    let ids: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["node_id"].as_str())
        .collect();
    assert!(
        ids.contains(&approved_id.as_str()) && !ids.contains(&stranger_id.as_str()),
        "{members}"
    );
}

//! A node's signed capabilities, fetched and checked offline as the runbook says;
//! an edited document, another key and a binary not allowed are refused.
//!
//! proves: F9, F10
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_net::capabilities::SignedCapabilities;
use psionic_tests::runbook::{run_as_written, runbook_blocks};
use psionic_tests::{
    NodeProcess, init_node_with_key, leader_in, node_cli, wait_until, write_token, write_voter_config,
};

#[test]
fn a_nodes_capabilities_verify_offline_and_an_edit_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_token(&dir.join("token"), "the lab's admission token, 2026\n");
    let (id, key) = init_node_with_key(&dir.join("n1"));
    let config = write_voter_config(dir, "n1", &[], "token", std::slice::from_ref(&id));
    let node = NodeProcess::start(&config).unwrap();
    wait_until(Duration::from_secs(20), "the node leads", || {
        leader_in(&node.state()).as_deref() == Some(id.as_str())
    });
    let blocks = runbook_blocks("## Publish and check a node's capabilities");
    let api = node.listening.operator_addr.to_string();
    let script = blocks[0]
        .replace("127.0.0.1:7480", &api)
        .replace("<n1 public_key>", &key);
    let said = run_as_written(dir, &script);
    assert!(said.contains(&format!("verified  node {id}")), "{said}");
    assert!(said.contains("trust     trusted-lan"), "{said}");
    let published: SignedCapabilities =
        serde_json::from_str(&std::fs::read_to_string(dir.join("n1.capabilities.json")).unwrap()).unwrap();
    let digest = published.capabilities.trust_digest.to_string();
    let shown = run_as_written(dir, &blocks[1].replace("127.0.0.1:7480", &api));
    assert!(
        shown.contains(&format!("trust digest  {digest}")) && shown.contains("posture       trusted-lan"),
        "{shown}"
    );

    let file = dir.join("n1.capabilities.json");
    let verify = |extra: &[&str]| {
        let args = [&["verify-capabilities", file.to_str().unwrap()][..], extra].concat();
        let (code, out, err) = node_cli(&args);
        (code, format!("{out}{err}"))
    };
    let (code, out) = verify(&["--key", &key, "--allow-binary", &"00".repeat(32)]);
    assert_eq!(code, 6, "a binary not allowed: {out}");
    let other_key = init_node_with_key(&dir.join("n2")).1;
    let (code, out) = verify(&["--key", &other_key]);
    assert!(code == 6 && out.contains("not among the trusted keys"), "{out}");

    let mut document: SignedCapabilities = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    document.capabilities.committed.applied_index = 999_999;
    std::fs::write(&file, serde_json::to_string(&document).unwrap()).unwrap();
    let (code, out) = verify(&["--key", &key]);
    assert!(code == 6 && out.contains("signature"), "an edited document: {out}");
}

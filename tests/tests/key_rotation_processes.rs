//! The runbook's node key rotation drill, run as written on three real nodes while a
//! client keeps committing through the leader: no command fails, the node's status
//! shows its new key, and the node started again from a copy of its identity file
//! made before the rotation (the old key) is refused by the others and hears nothing
//! new, until it is given back the identity the rotation left.
//!
//! proves: F10, F12
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_core::RefusalKind;
use psionic_net::api::{CapabilitiesAnswer, StateRead};
use psionic_tests::cluster::{CONVERGE, Cluster, applied};
use psionic_tests::committing::{Client, refusals};
use psionic_tests::runbook::{run_as_written, runbook_blocks};
use psionic_tests::{answered, node_cli, node_id, wait_until};

fn key_lines(said: &str) -> Vec<String> {
    said.lines()
        .filter(|line| line.starts_with("key"))
        .map(str::to_owned)
        .collect()
}

/// The node's key in force in a state report, once the key before it is retired.
fn key_in_force(state: &StateRead, node: &str) -> Option<String> {
    let keys = state.report.node_keys.get(&node_id(node))?;
    keys.retiring.is_none().then(|| keys.key.to_string())
}

/// The node's capabilities are signed with its new key: they verify offline given
/// `--key <node id>=<key>`, and not under its first key (whose digest its id is).
fn capabilities_verify_under_the_new_key(cluster: &Cluster, index: usize, new_key: &str) {
    let (code, answer) = answered(cluster.node(index).client().capabilities());
    let CapabilitiesAnswer::Signed(signed) = answer else {
        panic!("{code} {answer:?}");
    };
    let file = cluster.dir.join("rotated.capabilities.json");
    std::fs::write(&file, serde_json::to_string(&signed).unwrap()).unwrap();
    let file = file.to_str().unwrap();
    let trusted = format!("{}={new_key}", cluster.ids[index]);
    let (code, said, error) = node_cli(&["verify-capabilities", file, "--key", &trusted]);
    assert_eq!(code, 0, "{said}{error}");
    let (code, said, _) = node_cli(&["verify-capabilities", file]);
    assert_ne!(code, 0, "a rotated key is not the id's digest: {said}");
}

#[test]
fn a_node_key_is_rotated_under_load_and_the_old_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut cluster = Cluster::three_voters(dir);
    let leader = cluster.await_leader();
    let rotated = (leader + 1) % 3;
    let node = cluster.ids[rotated].clone();
    let identity = cluster.data_dir(rotated).join("identity");
    let old_identity = std::fs::read(&identity).unwrap();
    let client = Client::start(cluster.node(leader).listening.operator_addr);
    client.await_progress("the client commits before the rotation");
    let blocks = runbook_blocks("## Rotate a node's key");
    assert_eq!(blocks.len(), 2, "the drill's two steps");
    let on_nodes = |cluster: &Cluster, block: &str| {
        let script = block
            .replace(
                "127.0.0.1:7481",
                &cluster.node(rotated).listening.operator_addr.to_string(),
            )
            .replace(
                "127.0.0.1:7480",
                &cluster.node(leader).listening.operator_addr.to_string(),
            );
        run_as_written(dir, &script)
    };
    let before = key_lines(&on_nodes(&cluster, &blocks[1]));
    let said = on_nodes(&cluster, &blocks[0]);
    assert!(said.contains("committed at index"), "{said}");
    let after = key_lines(&on_nodes(&cluster, &blocks[1]));
    assert_eq!(after.len(), 1, "one key, none staged: {after:?}");
    assert_ne!(before, after, "the status shows the new key");
    let new_key = after[0].split_whitespace().last().unwrap().to_owned();
    wait_until(
        CONVERGE,
        "every node to bind the node to its new key, the old one retired",
        || (0..3).all(|index| key_in_force(&cluster.node(index).state(), &node).as_deref() == Some(new_key.as_str())),
    );
    assert_ne!(
        std::fs::read(&identity).unwrap(),
        old_identity,
        "the identity file moved on"
    );
    client.await_progress("the client commits after the rotation");
    capabilities_verify_under_the_new_key(&cluster, rotated, &new_key);

    // The old key, started again from a copy of the identity file: refused.
    let current_identity = std::fs::read(&identity).unwrap();
    cluster.stop(rotated);
    std::fs::write(&identity, &old_identity).unwrap();
    let refused_before = refusals(&cluster.node(leader).status(), RefusalKind::AuthenticationFailed);
    cluster.start(rotated);
    let stale = applied(cluster.node(rotated)).0;
    wait_until(CONVERGE, "the leader to refuse the old key", || {
        refusals(&cluster.node(leader).status(), RefusalKind::AuthenticationFailed) > refused_before + 3
    });
    client.await_progress("the client commits while the old key is refused");
    assert_eq!(applied(cluster.node(rotated)).0, stale, "it hears nothing new");
    let key = cluster.node(rotated).status().key;
    assert_eq!(
        key.superseded_by.map(|key| key.to_string()),
        Some(new_key.clone()),
        "{key:?}"
    );
    wait_until(Duration::from_secs(10), "the status to say the key is lost", || {
        key_lines(&on_nodes(&cluster, &blocks[1]))
            .iter()
            .any(|line| line.starts_with("key lost"))
    });

    // Given back the identity the rotation left, it catches up.
    cluster.stop(rotated);
    std::fs::write(&identity, &current_identity).unwrap();
    cluster.start(rotated);
    client.await_progress("the client commits after the node is back");
    let (committed, failures) = client.finish();
    assert!(failures.is_empty(), "{failures:?}");
    cluster.await_converged(committed);
}

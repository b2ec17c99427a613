//! A cluster run from one operator manifest: `manifest check` validates it and prints
//! its rollout digest; `run --manifest --node` derives each node's settings.
//!
//! proves: F10, F12
#![cfg(not(madsim))]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use psionic_core::backend::Backend;
use psionic_tests::runbook::{run_as_written, runbook_block};
use psionic_tests::{NodeProcess, free_port, init_node_with_key, node_binary, wait_until, write_token};

/// A model digest the reference executor runs.
const MODEL: &str = "1bbb359a3a13fa3ccdac3a469a16b364a1a88b5ae48c7ea37254dd22dc3c6ef9";

fn node_entry(name: &str, public_key: &str) -> String {
    let (discovery, stream) = (free_port(), free_port());
    format!(
        "[[node]]\nname = \"{name}\"\npublic_key = \"{public_key}\"\nrole = \"both\"\nvoter = true\n\
         discovery_bind = \"127.0.0.1:{discovery}\"\nstream_port = {stream}\noperator_bind = \"127.0.0.1:0\"\n\
         operator_token_file = \"operator-token\"\ndata_dir = \"{name}\"\nreference_models = [\"{MODEL}\"]\n"
    )
}

fn check(manifest: &Path) -> (i32, String, String) {
    let output = Command::new(node_binary())
        .args(["manifest", "check"])
        .arg(manifest)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_cluster_runs_from_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026\n");
    write_token(&dir.path().join("operator-token"), "the lab operator's token, 2026");
    let names = ["n1", "n2", "n3"];
    let keys: Vec<(String, String)> = names
        .iter()
        .map(|name| init_node_with_key(&dir.path().join(name)))
        .collect();
    let nodes: String = names
        .iter()
        .zip(&keys)
        .map(|(name, (_, key))| node_entry(name, key))
        .collect();
    let text = format!(
        "manifest_version = 1\nnamespace = \"lab\"\ncluster_genesis = \"lab-2026-11\"\n\n[trust]\n\
         posture = \"trusted-lan\"\nadmission_token_file = \"token\"\n\n[timing]\nheartbeat_interval_ms = 50\n\n{nodes}"
    );
    let manifest = dir.path().join("cluster.toml");
    std::fs::write(&manifest, &text).unwrap();

    let (code, out, err) = check(&manifest);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().filter(|line| line.starts_with("node ")).count(), 3, "{out}");
    let digest = out
        .lines()
        .find_map(|line| line.strip_prefix("rollout   "))
        .unwrap()
        .to_owned();
    assert_eq!(digest.len(), 64, "{out}");

    let running: Vec<NodeProcess> = names
        .iter()
        .map(|name| {
            NodeProcess::start_with(&[
                "--manifest".as_ref(),
                manifest.as_os_str(),
                "--node".as_ref(),
                name.as_ref(),
            ])
            .unwrap()
        })
        .collect();
    for (process, (id, _)) in running.iter().zip(&keys) {
        assert_eq!(&process.listening.node_id, id, "the manifest's key is the node's own");
    }
    wait_until(Duration::from_secs(30), "one leader followed by every node", || {
        let leaders: Vec<_> = running
            .iter()
            .map(|node| node.state().report.coordinator.leader)
            .collect();
        leaders[0].is_some() && leaders.iter().all(|leader| *leader == leaders[0])
    });
    assert_eq!(running[0].state().report.members.len(), 3);

    // The runbook's way to serve a request and check its evidence against the
    // manifest, as written.
    let first = &running[0];
    let model = psionic_core::Digest(psionic_core::digest::from_hex::<32>(MODEL).unwrap());
    wait_until(
        Duration::from_secs(30),
        "the first node's CPU and its model reported",
        || {
            let state = first.state().report;
            let id = psionic_tests::node_id(&first.listening.node_id);
            state.members.iter().any(|member| {
                member.node_id == id
                    && member.backends.contains_key(&Backend::Cpu)
                    && member.artifacts.get(&model) == Some(&psionic_core::state::Residency::Resident)
            })
        },
    );
    let serve = runbook_block("## Serve a request")
        .replace("127.0.0.1:7480", &first.listening.operator_addr.to_string())
        .replace("<node id>", &first.listening.node_id)
        .replace("<model digest>", MODEL);
    let said = run_as_written(dir.path(), &serve);
    assert!(said.contains("verified  request "), "{said}");

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, text.replacen("role = \"both\"", "role = \"executor\"", 1)).unwrap();
    let (code, _, err) = check(&broken);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("node[0].voter") && err.contains("executor"), "{err}");
}

//! The runbook's "Admit only approved binaries", run as written: with the binary's
//! SHA-256 listed, a node running another binary waits as a `not-attested` candidate
//! naming what it measured, one configured with another trust bundle waits on a
//! `trust-mismatch` naming both digests, an operator can admit neither, and a node
//! running the approved binary under the same configuration is admitted.
//!
//! proves: F10
#![cfg(not(madsim))]

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use psionic_core::NodeRole;
use psionic_core::attestation::AttestationRefusal;
use psionic_core::consensus::ProposalRejection;
use psionic_core::state::ClusterCommand;
use psionic_net::Consistency;
use psionic_net::api::{CommandAnswer, MembersAnswer};
use psionic_tests::cluster::{CONVERGE, leader_of};
use psionic_tests::runbook::{run_as_written, runbook_blocks};
use psionic_tests::{
    NodeProcess, answered, init_node, node_binary, node_id, wait_until, write_config, write_token, write_voter_config,
};
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
    let admit = |node: &str| ClusterCommand::AdmitMember {
        node: node_id(node),
        role: NodeRole::Both,
        stream_addr: None,
    };
    let (code, answer) = answered(leader.client().command(&admit(&stranger_id)));
    let CommandAnswer::Rejected {
        reason: ProposalRejection::NotAttested { node, .. },
        ..
    } = &answer
    else {
        panic!("{code} {answer:?}");
    };
    assert_eq!((code, *node), (422, node_id(&stranger_id)));

    // A node configured without the allowlist has another trust bundle: it waits,
    // and the refusal names both digests.
    let drifted_id = init_node(&dir.join("n4"));
    let _drifted = NodeProcess::start(&write_config(dir, "n4", &seed, "token")).unwrap();
    let ours = leader.status().trust.expect("a trust bundle").to_string();
    wait_until(CONVERGE, "the drifted node to wait on a trust mismatch", || {
        said = run_as_written(dir, &candidates);
        said.lines()
            .any(|line| line.starts_with(&drifted_id) && line.contains(&format!("trust-mismatch ours {ours} theirs ")))
    });
    let (code, answer) = answered(leader.client().command(&admit(&drifted_id)));
    let CommandAnswer::Rejected {
        reason:
            ProposalRejection::NotAttested {
                refusal:
                    AttestationRefusal::TrustMismatch {
                        ours: said_ours,
                        theirs,
                    },
                ..
            },
        ..
    } = &answer
    else {
        panic!("{code} {answer:?}");
    };
    assert_eq!((code, said_ours.to_string()), (422, ours), "{answer:?}");
    assert!(theirs.is_some(), "{answer:?}");

    let approved_id = init_node(&dir.join("n3"));
    let approved_config = write_config(dir, "n3", &seed, "token");
    with_allowlist(&approved_config, &approved);
    let _approved = NodeProcess::start(&approved_config).unwrap();
    wait_until(CONVERGE, "the approved node to be admitted", || {
        answered(leader.client().command(&admit(&approved_id))).0 == 200
    });
    let (_, MembersAnswer::Members(members)) = answered(leader.client().members(Consistency::Linearizable)) else {
        panic!("the members are read");
    };
    let ids: Vec<_> = members.iter().map(|member| member.node_id).collect();
    assert!(
        ids.contains(&node_id(&approved_id)) && !ids.contains(&node_id(&stranger_id)),
        "{members:?}"
    );
}

//! A cluster that admits only the ids it lists: a node holding the token but not
//! listed waits as a candidate (`psionic-node candidates` names it, introduced by its
//! seed, with `operator` admission) until an operator submits its `admit-member`, as
//! the runbook says; the ledger then records it accepted.
//!
//! proves: F2
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_tests::{NodeProcess, init_node, node_cli, wait_until, write_config, write_token, write_voter_config};

#[test]
fn an_unlisted_node_waits_as_a_candidate_until_an_operator_admits_it() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026\n");
    let first = init_node(&dir.path().join("n1"));
    let config = write_voter_config(dir.path(), "n1", &[], "token", std::slice::from_ref(&first));
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("admit_only = [\"{first}\"]\n"));
    std::fs::write(&config, text).unwrap();
    let leader = NodeProcess::start(&config).unwrap();
    let api = leader.listening.operator_addr.to_string();
    let joiner_id = init_node(&dir.path().join("n2"));
    let joiner_config = write_config(dir.path(), "n2", &[leader.listening.discovery_addr], "token");
    let _joiner = NodeProcess::start(&joiner_config).unwrap();

    let candidates = || node_cli(&["candidates", "--operator", &api]).1;
    wait_until(Duration::from_secs(20), "the joiner is a candidate", || {
        candidates().lines().any(|line| {
            line.starts_with(&joiner_id)
                && line.contains(" introduced ")
                && line.contains(" itself ")
                && line.ends_with("operator")
        })
    });
    std::thread::sleep(Duration::from_secs(2));
    let (_, members, _) = node_cli(&["members", "--operator", &api]);
    assert!(!members.contains(&joiner_id), "not admitted by itself:\n{members}");

    let token_file = dir.path().join("operator-token");
    let admit = format!("{{\"admit-member\":{{\"node\":\"{joiner_id}\",\"role\":\"both\"}}}}");
    let args = [
        "submit",
        "--operator",
        &api,
        "--token-file",
        token_file.to_str().unwrap(),
        &admit,
    ];
    let (code, out, err) = node_cli(&args);
    assert_eq!(code, 0, "{out}{err}");
    wait_until(Duration::from_secs(20), "the joiner is a member", || {
        node_cli(&["members", "--operator", &api]).1.contains(&joiner_id)
    });
    wait_until(
        Duration::from_secs(20),
        "the ledger to record the joiner accepted",
        || {
            candidates()
                .lines()
                .any(|line| line.starts_with(&joiner_id) && line.contains(" accepted "))
        },
    );
}

//! The runbook's admission token rotation drill, run as written on three real nodes
//! while a client keeps committing through the leader: no command fails, the node
//! left on the old token is refused by the others once the cut-over is applied, and
//! rejoins once it is given the new token.
//!
//! proves: F10, F12
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_core::RefusalKind;
use psionic_tests::cluster::{CONVERGE, Cluster, applied};
use psionic_tests::committing::{Client, refusals};
use psionic_tests::runbook::{run_as_written, runbook_blocks, try_run_as_written};
use psionic_tests::wait_until;

#[test]
fn the_admission_token_is_rotated_under_load_and_a_node_left_on_the_old_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let cluster = Cluster::three_voters(dir);
    let leader = cluster.await_leader();
    let (holder, left_out) = ((leader + 1) % 3, (leader + 2) % 3);
    let client = Client::start(cluster.node(leader).listening.operator_addr);
    client.await_progress("the client commits before the rotation");
    let blocks = runbook_blocks("## Rotate the admission token");
    assert_eq!(blocks.len(), 4, "the drill's four steps");
    let on_node = |block: &str, index: usize| {
        let node = cluster.node(index);
        let script = block
            .replace("<pid>", &node.pid().to_string())
            .replace("127.0.0.1:7480", &node.listening.operator_addr.to_string());
        run_as_written(dir, &script)
    };

    run_as_written(dir, &blocks[0]);
    let mut next_digests = Vec::new();
    for index in [leader, holder] {
        let config = std::fs::read_to_string(&cluster.configs[index]).unwrap();
        let config = config.replacen("[trust]", "[trust]\nadmission_token_next_file = \"token.next\"", 1);
        std::fs::write(&cluster.configs[index], config).unwrap();
        let mut said = String::new();
        wait_until(Duration::from_secs(10), "the node to show its next token", || {
            said = on_node(&blocks[1], index);
            said.contains("admission next ")
        });
        let line = said.lines().find(|line| line.starts_with("admission next")).unwrap();
        next_digests.push(line.split_whitespace().last().unwrap().to_owned());
    }
    assert_eq!(next_digests[0], next_digests[1], "both hold the same next token");
    client.await_progress("the client commits while both tokens are accepted");

    let refused_before = refusals(&cluster.node(leader).status(), RefusalKind::AuthenticationFailed);
    // The leader may not have heard the holder's next hello yet: the runbook says to
    // ask again, and only that refusal may be answered.
    let cut_over = blocks[2].replace("<next digest>", &next_digests[0]).replace(
        "127.0.0.1:7480",
        &cluster.node(leader).listening.operator_addr.to_string(),
    );
    wait_until(
        Duration::from_secs(10),
        "the cut-over to commit",
        || match try_run_as_written(dir, &cut_over) {
            Ok(said) => said.contains("committed"),
            Err(said) if said.contains("token-not-held-by-quorum") => false,
            Err(said) => panic!("{cut_over}\n{said}"),
        },
    );
    client.await_progress("the client commits after the cut-over");
    wait_until(CONVERGE, "the leader to refuse the node left on the old token", || {
        refusals(&cluster.node(leader).status(), RefusalKind::AuthenticationFailed) > refused_before + 3
    });
    let stale_applied = applied(cluster.node(left_out)).0;
    client.await_progress("the client commits while the node left out is refused");
    assert!(applied(cluster.node(leader)).0 > stale_applied + 5);
    assert_eq!(applied(cluster.node(left_out)).0, stale_applied, "it hears nothing new");

    // The last step puts the new token in the shared `token` file: signalled too, the
    // node left out holds it and catches up.
    for index in [leader, holder, left_out] {
        on_node(&blocks[3], index);
    }
    client.await_progress("the client commits after the old token is dropped");
    let (committed, failures) = client.finish();
    assert!(failures.is_empty(), "{failures:?}");
    cluster.await_converged(committed);
    let admission = cluster.node(left_out).status().admission.expect("a trusted-LAN node");
    let held: Vec<String> = admission.held.iter().map(ToString::to_string).collect();
    assert_eq!(held, [next_digests[0].to_string()], "{admission:?}");
    assert_eq!(
        admission.committed.map(|digest| digest.to_string()),
        Some(next_digests[0].to_string()),
        "{admission:?}"
    );
}

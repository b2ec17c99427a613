//! Three real `psionic-node` processes on loopback discover each other, refuse an
//! intruder, notice a killed node, and take it back at a higher epoch.
//!
//! proves: F2
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_core::{PeerHealth, RefusalKind};
use psionic_tests::{NodeProcess, init_node, peer_epoch, peer_health, wait_until, write_config, write_token};

const CONVERGE: Duration = Duration::from_secs(20);

#[test]
fn real_nodes_discover_refuse_notice_and_readmit() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026\n");
    write_token(&dir.path().join("wrong-token"), "somebody else's admission token\n");
    let ids: Vec<String> = ["n1", "n2", "n3", "intruder"]
        .iter()
        .map(|name| init_node(&dir.path().join(name)))
        .collect();

    let n1 = NodeProcess::start(&write_config(dir.path(), "n1", &[], "token")).unwrap();
    let seed = [n1.listening.discovery_addr];
    let n2 = NodeProcess::start(&write_config(dir.path(), "n2", &seed, "token")).unwrap();
    let n3_config = write_config(dir.path(), "n3", &seed, "token");
    let n3 = NodeProcess::start(&n3_config).unwrap();
    let all = [
        n1.listening.discovery_addr,
        n2.listening.discovery_addr,
        n3.listening.discovery_addr,
    ];
    let intruder = NodeProcess::start(&write_config(dir.path(), "intruder", &all, "wrong-token")).unwrap();
    let first_epoch = n3.listening.epoch;

    let honest = [&n1, &n2];
    wait_until(CONVERGE, "every node to see the two others reachable", || {
        [&n1, &n2, &n3].iter().all(|node| {
            let status = node.status();
            ids[..3]
                .iter()
                .filter(|id| **id != node.listening.node_id)
                .all(|id| peer_health(&status, id) == Some(PeerHealth::Reachable))
        })
    });
    wait_until(CONVERGE, "every node to refuse the intruder", || {
        [&n1, &n2, &n3]
            .iter()
            .all(|node| node.status().refusals.get(RefusalKind::AuthenticationFailed) > 0)
    });
    for node in [&n1, &n2, &n3] {
        assert_eq!(
            peer_health(&node.status(), &ids[3]),
            None,
            "the intruder is never listed"
        );
    }
    assert_eq!(intruder.status().peers.len(), 0);

    n3.kill();
    wait_until(CONVERGE, "n1 and n2 to mark the killed n3 unreachable", || {
        honest
            .iter()
            .all(|node| peer_health(&node.status(), &ids[2]) == Some(PeerHealth::Unreachable))
    });

    let n3 = NodeProcess::start(&n3_config).unwrap();
    assert_eq!(n3.listening.node_id, ids[2], "same identity after restart");
    let epoch = n3.listening.epoch;
    assert!(epoch > first_epoch, "epoch advanced");
    wait_until(CONVERGE, "n1 and n2 to see n3 back in its new epoch", || {
        honest.iter().all(|node| {
            let status = node.status();
            peer_health(&status, &ids[2]) == Some(PeerHealth::Reachable) && peer_epoch(&status, &ids[2]) == Some(epoch)
        })
    });
    for node in [&n1, &n2, &n3] {
        assert_eq!(
            peer_health(&node.status(), &ids[3]),
            None,
            "the intruder is still not listed"
        );
    }
}

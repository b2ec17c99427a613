//! The configured-peers posture on real processes: pinned keys are admitted, an
//! unpinned node is refused as an unknown peer and never listed.
//!
//! proves: F10
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_core::{PeerHealth, RefusalKind};
use psionic_tests::{NodeProcess, init_node_with_key, peer_health, wait_until, write_pinned_config};

#[test]
fn only_pinned_keys_become_peers() {
    let dir = tempfile::tempdir().unwrap();
    let (id1, key1) = init_node_with_key(&dir.path().join("p1"));
    let (id2, key2) = init_node_with_key(&dir.path().join("p2"));
    let (id3, key3) = init_node_with_key(&dir.path().join("p3"));
    let pinned = [key1.as_str(), key2.as_str()];
    let p1 = NodeProcess::start(&write_pinned_config(dir.path(), "p1", &[], &pinned)).unwrap();
    let seed = [p1.listening.discovery_addr];
    let p2 = NodeProcess::start(&write_pinned_config(dir.path(), "p2", &seed, &pinned)).unwrap();
    // p3 pins everyone, but nobody pins p3.
    let p3 = NodeProcess::start(&write_pinned_config(dir.path(), "p3", &seed, &[&key1, &key2, &key3])).unwrap();
    wait_until(Duration::from_secs(20), "p1 and p2 to see each other", || {
        peer_health(&p1.status(), &id2) == Some(PeerHealth::Reachable)
            && peer_health(&p2.status(), &id1) == Some(PeerHealth::Reachable)
    });
    wait_until(Duration::from_secs(20), "p1 to refuse p3 as an unknown peer", || {
        p1.status().refusals.get(RefusalKind::UnknownPeer) > 0
    });
    assert_eq!(peer_health(&p1.status(), &id3), None);
    assert_eq!(peer_health(&p2.status(), &id3), None);
    drop(p3);
}

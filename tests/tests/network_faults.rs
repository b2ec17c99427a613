//! Real-network faults on real processes: three voters, each in its own Linux network
//! namespace behind a bridge, while a client keeps committing. The kernel cuts links
//! (nftables drops inside a node's namespace, both ways and one way), a node is paused
//! (SIGSTOP/SIGCONT) and one is killed and restarted. Nothing acknowledged is lost, and every node ends at
//! the same index with the same state digest. Skipped, saying why, where namespaces
//! cannot be made (not root, no `ip` or `nft`).
//!
//! proves: F12, D2
#![cfg(not(madsim))]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use psionic_core::state::ClusterCommand;
use psionic_net::Consistency;
use psionic_tests::cluster::{applied, leader_of};
use psionic_tests::netns::Lab;
use psionic_tests::{NodeProcess, init_node, wait_until, write_token, write_voter_config};

const NAMES: [&str; 3] = ["n1", "n2", "n3"];

/// Node `name`'s configuration, bound to `addr` inside its namespace.
fn config(dir: &Path, name: &str, addr: Ipv4Addr, seeds: &[std::net::SocketAddr], ids: &[String]) -> PathBuf {
    let path = write_voter_config(dir, name, seeds, "token", ids);
    let text = std::fs::read_to_string(&path).unwrap();
    let bound = text
        .replace(
            "discovery_bind = \"127.0.0.1:0\"",
            &format!("discovery_bind = \"{addr}:0\""),
        )
        .replace(
            "operator_bind = \"127.0.0.1:0\"",
            &format!("operator_bind = \"{addr}:0\""),
        );
    std::fs::write(&path, bound).unwrap();
    path
}

/// Writes unique policies through whichever node answers, recording those the
/// cluster acknowledged.
struct Writer {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<BTreeSet<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Writer {
    fn start(apis: Arc<Mutex<Vec<std::net::SocketAddr>>>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
        let thread = {
            let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let api = {
                        let apis = apis.lock().unwrap();
                        apis[n as usize % apis.len()]
                    };
                    let name = format!("ack-{n}");
                    let command = ClusterCommand::SetPolicy {
                        name: name.clone(),
                        document: n.to_le_bytes().to_vec(),
                    };
                    match psionic_tests::client(api).command(&command) {
                        Ok(answer) if answer.status == 200 => drop(acknowledged.lock().unwrap().insert(name)),
                        _ => std::thread::sleep(Duration::from_millis(20)),
                    }
                    n += 1;
                }
            })
        };
        Self {
            stop,
            acknowledged,
            thread,
        }
    }

    fn finish(self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        Arc::try_unwrap(self.acknowledged).unwrap().into_inner().unwrap()
    }
}

fn signal(node: &NodeProcess, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &node.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal}");
}

#[test]
fn nothing_acknowledged_is_lost_through_kernel_partitions_pauses_and_a_kill() {
    let lab = match Lab::create(NAMES.len()) {
        Ok(lab) => lab,
        Err(why) => {
            eprintln!("skipped: no network namespaces here: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026\n");
    let ids: Vec<String> = NAMES.iter().map(|name| init_node(&dir.path().join(name))).collect();
    let mut nodes: Vec<Option<NodeProcess>> = Vec::new();
    let mut configs = Vec::new();
    for (index, name) in NAMES.iter().enumerate() {
        let seeds: Vec<_> = nodes
            .iter()
            .flatten()
            .map(|node| node.listening.discovery_addr)
            .collect();
        let path = config(dir.path(), name, lab.addr(index), &seeds, &ids);
        nodes.push(Some(
            NodeProcess::start_in_namespace(lab.namespace(index), &path).unwrap(),
        ));
        configs.push(path);
    }
    let live = |nodes: &[Option<NodeProcess>]| -> Vec<std::net::SocketAddr> {
        nodes
            .iter()
            .flatten()
            .map(|node| node.listening.operator_addr)
            .collect()
    };
    let leader_index = |nodes: &[Option<NodeProcess>]| {
        let mut found = None;
        wait_until(Duration::from_secs(30), "one leader every running node follows", || {
            let leaders: Vec<Option<String>> = nodes.iter().flatten().map(leader_of).collect();
            found = leaders[0]
                .clone()
                .filter(|_| leaders.iter().all(|seen| *seen == leaders[0]));
            found.is_some()
        });
        ids.iter().position(|id| Some(id) == found.as_ref()).unwrap()
    };
    let leader = leader_index(&nodes);
    let apis = Arc::new(Mutex::new(live(&nodes)));
    let writer = Writer::start(apis.clone());
    let pause = |ms| std::thread::sleep(Duration::from_millis(ms));
    pause(1_000);

    // The kernel cuts the leader away; the others elect; the link comes back.
    let other = (leader + 1) % NAMES.len();
    let term_before = nodes[other].as_ref().unwrap().status().term;
    lab.isolate(leader).unwrap();
    wait_until(
        Duration::from_secs(20),
        "the others elect a leader of a later term",
        || {
            let status = nodes[other].as_ref().unwrap().status();
            status.term > term_before && status.leader.is_some_and(|id| id.to_string() != ids[leader])
        },
    );
    pause(1_000);
    lab.heal(leader).unwrap();
    pause(1_000);
    // A follower stops for two seconds: its peers hear nothing from it.
    let now_leading = leader_index(&nodes);
    let follower = (now_leading + 1) % NAMES.len();
    signal(nodes[follower].as_ref().unwrap(), "-STOP");
    wait_until(
        Duration::from_secs(10),
        "the leader sees the paused follower unhealthy",
        || {
            let status = nodes[now_leading].as_ref().unwrap().status();
            status.peers.iter().any(|peer| {
                peer.node_id.to_string() == ids[follower] && peer.health != psionic_core::PeerHealth::Reachable
            })
        },
    );
    signal(nodes[follower].as_ref().unwrap(), "-CONT");
    pause(1_000);
    // One way: the leader stops hearing a follower, which still hears it.
    let now_leading = leader_index(&nodes);
    let deaf_to = (now_leading + 1) % NAMES.len();
    lab.deafen(now_leading, deaf_to).unwrap();
    wait_until(
        Duration::from_secs(10),
        "the leader no longer hears the follower",
        || {
            let status = nodes[now_leading].as_ref().unwrap().status();
            status.peers.iter().any(|peer| {
                peer.node_id.to_string() == ids[deaf_to] && peer.health != psionic_core::PeerHealth::Reachable
            })
        },
    );
    pause(1_000);
    lab.heal(now_leading).unwrap();
    pause(1_000);
    // The leader is killed and started again.
    let leader = leader_index(&nodes);
    nodes[leader].take().unwrap().kill();
    *apis.lock().unwrap() = live(&nodes);
    pause(2_000);
    let seeds: Vec<_> = nodes
        .iter()
        .flatten()
        .map(|node| node.listening.discovery_addr)
        .collect();
    configs[leader] = config(dir.path(), NAMES[leader], lab.addr(leader), &seeds, &ids);
    nodes[leader] = Some(NodeProcess::start_in_namespace(lab.namespace(leader), &configs[leader]).unwrap());
    *apis.lock().unwrap() = live(&nodes);
    pause(2_000);
    let acknowledged = writer.finish();
    assert!(
        acknowledged.len() > 20,
        "the client kept committing: {}",
        acknowledged.len()
    );

    leader_index(&nodes);
    let mut converged = Vec::new();
    wait_until(Duration::from_secs(30), "every node at one index and digest", || {
        converged = nodes.iter().flatten().map(applied).collect();
        converged.iter().all(|state| *state == converged[0])
    });
    for node in nodes.iter().flatten() {
        let state = psionic_tests::state_of(node.listening.operator_addr, Consistency::Serializable);
        let lost: Vec<&String> = acknowledged
            .iter()
            .filter(|name| !state.report.policies.contains_key(*name))
            .collect();
        assert!(
            lost.is_empty(),
            "{} lost acknowledged writes: {lost:?}",
            node.listening.node_id
        );
    }
}

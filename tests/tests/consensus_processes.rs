//! Three real `psionic-node` processes agree on an ordered log: commands commit on the
//! leader; the leader is SIGKILLed and a new one commits; the killed node restarts and
//! catches up; every acknowledged command is on every node.
//!
//! proves: D2, F5
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_core::state::ClusterCommand;
use psionic_core::{Digest, NodeId};
use psionic_net::Consistency;
use psionic_net::api::{CommandAnswer, MemberView, MembersAnswer};
use psionic_tests::cluster::{applied, commit, leader_of};
use psionic_tests::{NodeProcess, answered, init_node, wait_until, write_token, write_voter_config};

const CONVERGE: Duration = Duration::from_secs(30);

const NAMES: [&str; 3] = ["n1", "n2", "n3"];

/// Three genesis voters as real processes in `dir`; returns their ids and processes.
fn three_voters(dir: &std::path::Path) -> (Vec<String>, Vec<Option<NodeProcess>>) {
    write_token(&dir.join("token"), "the lab's admission token, 2026\n");
    let ids: Vec<String> = NAMES.iter().map(|name| init_node(&dir.join(name))).collect();
    let first = NodeProcess::start(&write_voter_config(dir, "n1", &[], "token", &ids)).unwrap();
    let seed = [first.listening.discovery_addr];
    let mut nodes = vec![Some(first)];
    for name in &NAMES[1..] {
        let config = write_voter_config(dir, name, &seed, "token", &ids);
        nodes.push(Some(NodeProcess::start(&config).unwrap()));
    }
    (ids, nodes)
}

/// Waits until the leader's `/v1/members` shows, for every member, a round trip
/// (under a second, on loopback) and a bandwidth measured to each other member.
fn await_links_measured(leader: &NodeProcess, ids: &[String]) {
    let id = |hex: &str| NodeId(psionic_core::digest::from_hex::<16>(hex).expect("a node id"));
    let measured = |members: &[MemberView], from: &str, to: &str| {
        let member = members.iter().find(|member| member.node_id == id(from));
        let link = member.and_then(|member| member.telemetry.as_ref()?.links.get(&id(to)).copied());
        link.is_some_and(|link| link.rtt_us < 1_000_000 && link.bandwidth_mbps > Some(0))
    };
    wait_until(CONVERGE, "every link measured", || {
        let (_, MembersAnswer::Members(members)) = answered(leader.client().members(Consistency::Linearizable)) else {
            return false;
        };
        ids.iter()
            .all(|a| ids.iter().filter(|b| *b != a).all(|b| measured(&members, a, b)))
    });
}

/// Waits until every running node follows one effective leader; returns its id.
fn await_one_leader(nodes: &[Option<NodeProcess>]) -> String {
    let mut leader_id = None;
    wait_until(CONVERGE, "every node to follow one effective leader", || {
        let leaders: Vec<Option<String>> = nodes.iter().flatten().map(leader_of).collect();
        leader_id = leaders[0].clone();
        leader_id.is_some() && leaders.iter().all(|leader| *leader == leader_id)
    });
    leader_id.expect("a leader")
}

#[test]
fn commands_survive_a_leader_kill_and_the_killed_node_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, mut nodes) = three_voters(dir.path());
    let leader_id = Some(await_one_leader(&nodes));
    let leader_index = ids.iter().position(|id| Some(id) == leader_id.as_ref()).unwrap();
    await_links_measured(nodes[leader_index].as_ref().unwrap(), &ids);
    let mut acknowledged = 0;
    for n in 0..10 {
        acknowledged = commit(nodes[leader_index].as_ref().unwrap(), n);
    }

    nodes[leader_index].take().unwrap().kill();
    let mut new_leader = None;
    wait_until(CONVERGE, "the two survivors to follow a new effective leader", || {
        let leaders: Vec<Option<String>> = nodes.iter().flatten().map(leader_of).collect();
        new_leader = leaders[0].clone();
        new_leader.is_some() && new_leader != leader_id && leaders.iter().all(|leader| *leader == new_leader)
    });
    let new_index = ids.iter().position(|id| Some(id) == new_leader.as_ref()).unwrap();
    for n in 10..20 {
        acknowledged = commit(nodes[new_index].as_ref().unwrap(), n);
    }

    let seeds: Vec<_> = nodes
        .iter()
        .flatten()
        .map(|node| node.listening.discovery_addr)
        .collect();
    let config = write_voter_config(dir.path(), NAMES[leader_index], &seeds, "token", &ids);
    nodes[leader_index] = Some(NodeProcess::start(&config).unwrap());
    wait_until(
        CONVERGE,
        "all three nodes to apply every acknowledged command with equal digests",
        || {
            let states: Vec<(u64, Digest)> = nodes.iter().flatten().map(applied).collect();
            states
                .iter()
                .all(|(index, digest)| *index >= acknowledged && *digest == states[0].1)
        },
    );
    let state = nodes[leader_index].as_ref().unwrap().state();
    assert_eq!(state.report.members.len(), 3);
}

#[test]
fn a_node_killed_mid_append_drops_the_torn_record_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, mut nodes) = three_voters(dir.path());
    let leader_id = await_one_leader(&nodes);
    let leader = ids.iter().position(|id| *id == leader_id).unwrap();
    for n in 0..5 {
        commit(nodes[leader].as_ref().unwrap(), n);
    }
    let follower = (leader + 1) % 3;
    nodes[follower].take().unwrap().kill();

    // A record cut short, as a crash in the middle of an unsynced append leaves it.
    let data_dir = dir.path().join(NAMES[follower]);
    let mut segments: Vec<_> = std::fs::read_dir(&data_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("log-") && name != "log-manifest"
        })
        .collect();
    segments.sort();
    let last = segments.last().expect("a log segment");
    const TORN: [u8; 6] = [0x2a, 0x00, 0x00, 0x00, 0x13, 0x37]; // a 42-byte record, 2 bytes of it
    let mut bytes = std::fs::read(last).unwrap();
    let whole = bytes.len();
    bytes.extend_from_slice(&TORN);
    std::fs::write(last, &bytes).unwrap();

    let mut acknowledged = 0;
    for n in 5..10 {
        acknowledged = commit(nodes[leader].as_ref().unwrap(), n);
    }
    let live: Vec<_> = nodes
        .iter()
        .flatten()
        .map(|node| node.listening.discovery_addr)
        .collect();
    let config = write_voter_config(dir.path(), NAMES[follower], &live, "token", &ids);
    nodes[follower] = Some(NodeProcess::start(&config).expect("a torn tail does not stop the node"));
    wait_until(CONVERGE, "every node to apply every acknowledged command", || {
        let states: Vec<(u64, Digest)> = nodes.iter().flatten().map(applied).collect();
        states
            .iter()
            .all(|(index, digest)| *index >= acknowledged && *digest == states[0].1)
    });
    let repaired = std::fs::read(last).unwrap();
    assert_eq!(repaired[..whole], bytes[..whole], "every whole record kept");
    assert_ne!(
        repaired.get(whole..whole + TORN.len()),
        Some(&TORN[..]),
        "the torn record is gone"
    );
}

#[test]
fn a_rolling_restart_under_continuous_proposals_loses_no_acknowledged_command() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let (ids, nodes) = three_voters(dir.path());
    await_one_leader(&nodes);
    let operators: Arc<Mutex<Vec<std::net::SocketAddr>>> = Arc::new(Mutex::new(
        nodes
            .iter()
            .flatten()
            .map(|node| node.listening.operator_addr)
            .collect(),
    ));
    let running = Arc::new(AtomicBool::new(true));
    let highest_acknowledged = Arc::new(AtomicU64::new(0));
    let acknowledged_count = Arc::new(AtomicU64::new(0));
    let proposer = {
        let (operators, running) = (operators.clone(), running.clone());
        let (highest, count) = (highest_acknowledged.clone(), acknowledged_count.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while running.load(Ordering::Relaxed) {
                n += 1;
                let targets = operators.lock().unwrap().clone();
                let command = ClusterCommand::SetPolicy {
                    name: format!("rolling-{}", n % 8),
                    document: n.to_le_bytes().to_vec(),
                };
                for operator in targets {
                    let answer = psionic_tests::client(operator)
                        .command(&command)
                        .ok()
                        .and_then(|answer| answer.answer());
                    let Some(CommandAnswer::Committed { index, .. }) = answer else {
                        continue;
                    };
                    highest.fetch_max(index, Ordering::Relaxed);
                    count.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let mut nodes = nodes;
    for position in 0..3 {
        let before = acknowledged_count.load(Ordering::Relaxed);
        let status = nodes[position].take().unwrap().terminate();
        assert!(
            status.success(),
            "n{} exits cleanly on SIGTERM: {status:?}",
            position + 1
        );
        let live: Vec<_> = nodes
            .iter()
            .flatten()
            .map(|node| node.listening.discovery_addr)
            .collect();
        let config = write_voter_config(dir.path(), NAMES[position], &live, "token", &ids);
        let restarted = NodeProcess::start(&config).unwrap();
        operators.lock().unwrap()[position] = restarted.listening.operator_addr;
        nodes[position] = Some(restarted);
        await_one_leader(&nodes);
        wait_until(CONVERGE, "the cluster to keep committing", || {
            acknowledged_count.load(Ordering::Relaxed) > before + 5
        });
    }
    running.store(false, Ordering::Relaxed);
    proposer.join().unwrap();

    let acknowledged = highest_acknowledged.load(Ordering::Relaxed);
    assert!(acknowledged_count.load(Ordering::Relaxed) >= 15);
    wait_until(CONVERGE, "every node to apply every acknowledged command", || {
        let states: Vec<(u64, Digest)> = nodes.iter().flatten().map(applied).collect();
        states
            .iter()
            .all(|(index, digest)| *index >= acknowledged && *digest == states[0].1)
    });
}

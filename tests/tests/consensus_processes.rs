//! Three real `psionic-node` processes agree on an ordered log: commands commit on the
//! leader; the leader is SIGKILLed and a new one commits; the killed node restarts and
//! catches up; every acknowledged command is on every node.
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_tests::{NodeProcess, http_post_json, init_node, wait_until, write_token, write_voter_config};
use serde_json::{Value, json};

const CONVERGE: Duration = Duration::from_secs(30);

fn leader_of(node: &NodeProcess) -> Option<String> {
    let state = node.state();
    let coordinator = &state["coordinator"];
    (coordinator["effective"] == true)
        .then(|| coordinator["leader"].as_str().map(str::to_owned))
        .flatten()
}

fn commit(node: &NodeProcess, n: u64) -> u64 {
    let command =
        json!({ "set-policy": { "name": format!("policy-{}", n % 4), "document": n.to_le_bytes().to_vec() } });
    let (code, answer) = http_post_json(node.listening.operator_addr, "/v1/commands", &command);
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["outcome"], "committed", "{answer}");
    answer["index"].as_u64().unwrap()
}

fn applied(node: &NodeProcess) -> (u64, Value) {
    let state = node.state();
    (state["applied_index"].as_u64().unwrap(), state["state_digest"].clone())
}

#[test]
fn commands_survive_a_leader_kill_and_the_killed_node_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026\n");
    let names = ["n1", "n2", "n3"];
    let ids: Vec<String> = names.iter().map(|name| init_node(&dir.path().join(name))).collect();
    let first = NodeProcess::start(&write_voter_config(dir.path(), "n1", &[], "token", &ids)).unwrap();
    let seed = [first.listening.discovery_addr];
    let mut nodes = vec![Some(first)];
    for name in &names[1..] {
        nodes.push(Some(
            NodeProcess::start(&write_voter_config(dir.path(), name, &seed, "token", &ids)).unwrap(),
        ));
    }

    let mut leader_id = None;
    wait_until(CONVERGE, "every node to follow one effective leader", || {
        let leaders: Vec<Option<String>> = nodes.iter().flatten().map(leader_of).collect();
        leader_id = leaders[0].clone();
        leader_id.is_some() && leaders.iter().all(|leader| *leader == leader_id)
    });
    let leader_index = ids.iter().position(|id| Some(id) == leader_id.as_ref()).unwrap();
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
    let config = write_voter_config(dir.path(), names[leader_index], &seeds, "token", &ids);
    nodes[leader_index] = Some(NodeProcess::start(&config).unwrap());
    wait_until(
        CONVERGE,
        "all three nodes to apply every acknowledged command with equal digests",
        || {
            let states: Vec<(u64, Value)> = nodes.iter().flatten().map(applied).collect();
            states
                .iter()
                .all(|(index, digest)| *index >= acknowledged && *digest == states[0].1)
        },
    );
    let state = nodes[leader_index].as_ref().unwrap().state();
    assert_eq!(state["members"].as_array().unwrap().len(), 3);
}

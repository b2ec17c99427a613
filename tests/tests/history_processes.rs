//! Several clients write policies and read the state linearizably through every node
//! of a cluster of real processes while its leader is killed, restarted and hands
//! its leadership over; the history they saw must be linearizable.
//!
//! proves: D2, F3
#![cfg(not(madsim))]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use psionic_net::api::{TransferAnswer, TransferBody};
use psionic_tests::cluster::{CONVERGE, Cluster};
use psionic_tests::history::ClientHistory;
use psionic_tests::{answered, wait_until};

const CLIENTS: u64 = 3;
const KEYS: [&str; 3] = ["history-0", "history-1", "history-2"];

/// Operator addresses of the running nodes, by position (`None` while one is down).
type Operators = Arc<Mutex<Vec<Option<SocketAddr>>>>;

fn operators_of(cluster: &Cluster) -> Vec<Option<SocketAddr>> {
    cluster
        .nodes
        .iter()
        .map(|node| node.as_ref().map(|node| node.listening.operator_addr))
        .collect()
}

/// Client `client`: until `running` clears, alternately writes a key and reads them
/// all, each time through the next node in turn.
fn client_loop(client: u64, history: &ClientHistory, operators: &Operators, running: &AtomicBool) {
    let mut turn = client as usize;
    let mut seq = 0u64;
    while running.load(Ordering::Relaxed) {
        turn += 1;
        let Some(operator) = operators.lock().unwrap()[turn % 3] else {
            continue;
        };
        let answered = if turn.is_multiple_of(2) {
            seq += 1;
            let document = format!("client {client} write {seq}");
            let key = KEYS[(seq as usize + client as usize) % KEYS.len()];
            let written = history.write_policy(client, operator, key, document.as_bytes());
            written.is_some_and(|(code, _)| code == 200)
        } else {
            history.read_policies(client, operator, &KEYS).is_some()
        };
        if !answered {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn clients_of_every_node_see_a_linearizable_history_through_a_failover_and_a_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::three_voters(dir.path());
    let first_leader = cluster.await_leader();
    let history = Arc::new(ClientHistory::default());
    let operators: Operators = Arc::new(Mutex::new(operators_of(&cluster)));
    let running = Arc::new(AtomicBool::new(true));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (history, operators, running) = (history.clone(), operators.clone(), running.clone());
            std::thread::spawn(move || client_loop(client, &history, &operators, &running))
        })
        .collect();
    let written_by = |at_least: usize| {
        wait_until(CONVERGE, "the clients' writes to commit", || {
            history.written() >= at_least
        });
        history.written()
    };

    let before_kill = written_by(20);
    cluster.kill(first_leader);
    *operators.lock().unwrap() = operators_of(&cluster);
    wait_until(CONVERGE, "another voter to take over", || {
        cluster.await_leader() != first_leader
    });
    let second_leader = cluster.await_leader();
    let after_failover = written_by(before_kill + 20);
    cluster.start(first_leader);
    *operators.lock().unwrap() = operators_of(&cluster);
    let target = (0..3).find(|index| *index != second_leader).unwrap();
    let to = TransferBody {
        to: Some(cluster.ids[target].clone()),
    };
    let (code, answer) = answered(cluster.node(second_leader).client().transfer_leadership(&to));
    assert!(
        code == 200 && matches!(answer, TransferAnswer::Transferring { .. }),
        "{answer:?}"
    );
    wait_until(CONVERGE, "the named voter to lead", || cluster.await_leader() == target);
    written_by(after_failover + 20);

    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let checked = history.assert_linearizable();
    let (recorded, returned) = history.counts();
    assert!(
        checked == recorded && returned > 120,
        "{returned} of {recorded} operations returned"
    );
}

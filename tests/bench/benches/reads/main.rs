//! R1: reads of the replicated state per second through the operator API of three
//! real `psionic-node` processes, linearizable (ReadIndex) against serializable and
//! against etcd's linearizable `range` through its HTTP gateway, driven by the same
//! `wrk` load at 1, 16 and 64 connections, through the leader and through a
//! follower. Each pair is measured back to back, twice, in alternating order; a
//! receipt per row goes to `PSIONIC_RECEIPTS_DIR` (default `target/receipts`).

mod etcd;
mod wrk;

use std::net::SocketAddr;
use std::time::Duration;

use psionic_core::receipt::{BenchmarkReceipt, Measured, Target, Unit};
use psionic_net::receipt::RunFacts;
use psionic_tests::cluster::Cluster;

use crate::etcd::{Etcd, KEY_BASE64};
use crate::wrk::{Load, Request};

const CONNECTIONS: [u32; 3] = [1, 16, 64];
/// How long each side is driven in each of its two runs.
const RUN: Duration = Duration::from_secs(3);

/// The three sides of a row, each a request `wrk` repeats.
struct Sides {
    linearizable: Request,
    serializable: Request,
    etcd: Option<Request>,
}

/// What the three sides measured (the mean of two runs each).
struct Measurements {
    linearizable: Load,
    serializable: Load,
    etcd: Option<Load>,
}

fn main() {
    if !wrk::available() {
        eprintln!("R1 needs wrk on the PATH (Debian: apt-get install wrk)");
        std::process::exit(2);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let psionic_dir = dir.path().join("psionic");
    std::fs::create_dir_all(&psionic_dir).expect("temp dir writable");
    let cluster = Cluster::three_voters(&psionic_dir);
    let leader = cluster.await_leader();
    cluster.commit(leader, 1);
    let follower = (leader + 1) % 3;
    let etcd = etcd::available().then(|| Etcd::start(dir.path()));
    if etcd.is_none() {
        println!("etcd is not on the PATH (Debian: apt-get install etcd-server): measuring ours alone");
    }
    let etcd_nodes = etcd.as_ref().map(Etcd::leader_and_follower);
    let operator = |index: usize| cluster.node(index).listening.operator_addr;
    let vias = [
        ("leader", operator(leader), etcd_nodes.map(|nodes| nodes.0)),
        ("follower", operator(follower), etcd_nodes.map(|nodes| nodes.1)),
    ];
    let facts = RunFacts::detect();
    let mut receipts = Vec::new();
    println!(
        "\n{:<18} {:>16} {:>16} {:>16} {:>9} {:>9}",
        "row", "linearizable/s", "serializable/s", "etcd range/s", "lin/etcd", "lin/ser"
    );
    for (via, ours, peer) in vias {
        for connections in CONNECTIONS {
            let measured = measure(&sides(ours, peer), connections);
            receipts.extend(row_receipts(via, connections, &measured, &facts));
        }
    }
    let receipts_dir = psionic_tests::receipts_dir();
    for receipt in &receipts {
        psionic_net::receipt::write(&receipts_dir, receipt).expect("receipts written");
    }
    println!("\n{} receipts in {}", receipts.len(), receipts_dir.display());
}

fn sides(ours: SocketAddr, peer: Option<SocketAddr>) -> Sides {
    Sides {
        linearizable: Request {
            url: format!("http://{ours}/v1/members"),
            post_json: None,
        },
        serializable: Request {
            url: format!("http://{ours}/v1/members?consistency=serializable"),
            post_json: None,
        },
        etcd: peer.map(|peer| Request {
            url: format!("http://{peer}/v3/kv/range"),
            post_json: Some(format!("{{\"key\":\"{KEY_BASE64}\"}}")),
        }),
    }
}

/// Two rounds over the sides, the second in reverse order, each side's two runs
/// averaged.
fn measure(sides: &Sides, connections: u32) -> Measurements {
    let mut order: Vec<&Request> = [
        Some(&sides.linearizable),
        Some(&sides.serializable),
        sides.etcd.as_ref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut runs: Vec<Vec<Load>> = vec![Vec::new(); order.len()];
    for round in 0..2 {
        for (place, request) in order.iter().enumerate() {
            let slot = if round == 0 { place } else { order.len() - 1 - place };
            runs[slot].push(wrk::run(request, connections, RUN));
        }
        order.reverse();
    }
    let mut means = runs.iter().map(|loads| mean(loads));
    Measurements {
        linearizable: means.next().expect("linearizable measured"),
        serializable: means.next().expect("serializable measured"),
        etcd: means.next(),
    }
}

fn mean(loads: &[Load]) -> Load {
    let count = loads.len() as f64;
    Load {
        requests_per_s: loads.iter().map(|load| load.requests_per_s).sum::<f64>() / count,
        p50_ms: loads.iter().map(|load| load.p50_ms).sum::<f64>() / count,
        p99_ms: loads.iter().map(|load| load.p99_ms).sum::<f64>() / count,
    }
}

/// Prints the row and returns its receipts: R1 (ours linearizable / etcd, when etcd
/// ran) and R1s (linearizable / serializable: what the ReadIndex round costs).
fn row_receipts(via: &str, connections: u32, measured: &Measurements, facts: &RunFacts) -> Vec<BenchmarkReceipt> {
    let name = format!("{via}-c{connections}");
    let linearizable = measured.linearizable.requests_per_s;
    let serializable = measured.serializable.requests_per_s;
    let etcd = measured.etcd.map(|load| load.requests_per_s);
    println!(
        "{name:<18} {linearizable:>16.0} {serializable:>16.0} {:>16} {:>9} {:>9.2}",
        etcd.map_or_else(|| "-".to_owned(), |rate| format!("{rate:.0}")),
        etcd.map_or_else(|| "-".to_owned(), |rate| format!("{:.2}", linearizable / rate)),
        linearizable / serializable,
    );
    let ours = described(
        &format!("GET /v1/members, linearizable, via the {via}, {connections} connections"),
        measured.linearizable,
    );
    let mut receipts = vec![BenchmarkReceipt::new(
        format!("R1s-{name}"),
        (
            ours.clone(),
            described(
                &format!("GET /v1/members?consistency=serializable, via the {via}, {connections} connections"),
                measured.serializable,
            ),
        ),
        (
            linearizable / serializable,
            "linearizable reads/s / serializable reads/s",
        ),
        Target::None,
        facts.as_pair(),
    )];
    if let Some(load) = measured.etcd {
        let peer = described(
            &format!("etcd 3-member POST /v3/kv/range (linearizable), via the {via}, {connections} connections"),
            load,
        );
        receipts.push(BenchmarkReceipt::new(
            format!("R1-{name}"),
            (ours, peer),
            (
                linearizable / load.requests_per_s,
                "ours linearizable reads/s / etcd linearizable range/s",
            ),
            Target::AtLeast(1.0),
            facts.as_pair(),
        ));
    }
    receipts
}

fn described(what: &str, load: Load) -> Measured {
    Measured {
        what: format!("{what} (p50 {:.2} ms, p99 {:.2} ms)", load.p50_ms, load.p99_ms),
        value: load.requests_per_s,
        unit: Unit::RequestsPerSecond,
    }
}

//! The unauthenticated edge of a real cluster under abuse: thousands of idle TCP
//! connections to a node's peer-stream port, a flood of junk datagrams to its
//! discovery port while a client commits, and clients of the operator API that send
//! their headers or body too slowly. The cluster keeps committing, the
//! connections past the cap are closed at once and the idle ones after the idle time,
//! every junk datagram that arrives is refused and counted, and the node's log stays
//! within its per-kind budget.
#![cfg(not(madsim))]

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use psionic_net::http::API_CONNECTIONS_MAX;
use psionic_tests::cluster::Cluster;
use psionic_tests::{http_get, metric, single_voter_leader, wait_until};

/// Connections opened against one node's peer-stream listener.
const IDLE_CONNECTIONS: usize = 5_000;
/// Junk datagrams sent to one node's discovery port.
const JUNK_DATAGRAMS: u64 = 100_000;
/// What the node's peer-stream listener keeps open at most.
const STREAM_CONNECTIONS_MAX: f64 = 256.0;

fn metrics_of(cluster: &Cluster, index: usize) -> String {
    let (code, text) = http_get(cluster.node(index).listening.operator_addr, "/metrics");
    assert_eq!(code, 200);
    text
}

fn streams(text: &str, outcome: &str) -> f64 {
    metric(text, &format!("psionic_peer_streams_total{{outcome=\"{outcome}\"}} "))
}

#[test]
fn idle_connections_past_the_cap_are_closed_and_the_cluster_keeps_committing() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    let target = (leader + 1) % 3;
    cluster.commit(leader, 1);
    let stream_addr = cluster.node(target).listening.stream_addr;
    let held: Vec<TcpStream> = (0..IDLE_CONNECTIONS)
        .map_while(|_| TcpStream::connect_timeout(&stream_addr, Duration::from_secs(2)).ok())
        .collect();
    assert!(held.len() > 1_000, "{} connections opened", held.len());
    for n in 2..=6 {
        cluster.commit(leader, n);
    }
    let text = metrics_of(&cluster, target);
    assert!(
        metric(&text, "psionic_peer_streams_open ") <= STREAM_CONNECTIONS_MAX,
        "{text}"
    );
    assert!(streams(&text, "refused-full") > 0.0, "{text}");
    wait_until(Duration::from_secs(20), "the idle connections are closed", || {
        streams(&metrics_of(&cluster, target), "idle") >= STREAM_CONNECTIONS_MAX - 8.0
    });
    cluster.commit(leader, 7);
    cluster.await_converged(7);
    drop(held);
}

#[test]
fn junk_datagrams_are_refused_counted_and_logged_within_budget_while_the_cluster_commits() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    let target = (leader + 1) % 3;
    cluster.commit(leader, 1);
    let discovery = cluster.node(target).listening.discovery_addr;
    let lines_before = cluster.node(target).log_lines();
    let started = Instant::now();
    let flood = std::thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        for n in 0..JUNK_DATAGRAMS {
            let junk = n.to_le_bytes().repeat(1 + (n % 16) as usize);
            let _ = socket.send_to(&junk, discovery);
            if n % 1_000 == 999 {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    });
    let mut committed = 1;
    while !flood.is_finished() || committed < 10 {
        committed += 1;
        cluster.commit(leader, committed);
    }
    flood.join().unwrap();
    let flood_s = started.elapsed().as_secs_f64();
    let refused = || {
        let text = metrics_of(&cluster, target);
        let kind = |kind: &str| metric(&text, &format!("psionic_refusals_total{{kind=\"{kind}\"}} "));
        kind("malformed-frame") + kind("unsupported-schema-version")
    };
    wait_until(Duration::from_secs(10), "the junk that arrived is refused", || {
        refused() >= 1_000.0
    });
    assert!(refused() <= JUNK_DATAGRAMS as f64);
    cluster.commit(leader, committed + 1);
    cluster.await_converged(committed + 1);
    let logged = cluster.node(target).log_lines() - lines_before;
    let refused = refused();
    // Unlimited, each refusal would be a line: the node logged a twentieth at most
    // (ten a second per kind, and its ordinary lines about the commits).
    assert!(
        (logged as f64) * 20.0 < refused,
        "{logged} lines logged over {flood_s:.1} s of flood, {refused} refused"
    );
}

/// Reads until the server closes `stream` (or it errs); what it answered, if anything.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn slow_clients_are_cut_off_and_the_operator_api_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let (_, node) = single_voter_leader(dir.path());
    let api = node.listening.operator_addr;
    let mut slow: Vec<TcpStream> = (0..API_CONNECTIONS_MAX + 44)
        .map_while(|_| TcpStream::connect(api).ok())
        .collect();
    for stream in &mut slow {
        let _ = stream.write_all(b"GET /v1/status HTTP/1.1\r\nHost: psionic\r\nX-Slow: ");
    }
    let started = Instant::now();
    for stream in &mut slow {
        let answer = read_until_closed(stream, Duration::from_secs(20));
        assert!(
            !answer.contains("200 OK"),
            "a request without its headers was answered: {answer}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "every slow connection was closed"
    );
    let (code, _) = http_get(api, "/v1/status");
    assert_eq!(code, 200, "the API answers once the slow clients are cut off");

    let mut trickle = TcpStream::connect(api).unwrap();
    let head =
        "POST /v1/plans HTTP/1.1\r\nHost: psionic\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    trickle.write_all(head.as_bytes()).unwrap();
    let answer = read_until_closed(&mut trickle, Duration::from_secs(30));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("too-slow"), "{answer}");
}

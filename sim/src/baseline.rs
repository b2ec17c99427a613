//! The simulator's own floors: madsim nodes that only exchange heartbeats, with no
//! consensus and no authentication, over datagrams ([`heartbeat_only`], the
//! baseline a scenario's speed is reported against) or over the project's peer
//! streams ([`stream_heartbeats`], what moving a stream frame costs by itself).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use psionic_net::stream::{self, Outbound};

/// Bytes of one baseline heartbeat (about a signed, encoded append with no entries).
const HEARTBEAT_BYTES: usize = 160;
/// Port of every baseline node.
const PORT: u16 = 7400;
/// Stream frames a baseline node's reader hands on before the node takes them.
const INBOUND_FRAMES_MAX: usize = 1024;

/// What one baseline run took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaselineRun {
    /// Wall time.
    pub wall: Duration,
    /// Heartbeats handed to the transport.
    pub frames_sent: u64,
    /// Heartbeats that arrived.
    pub frames_received: u64,
}

#[derive(Clone, Default)]
struct Counts {
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
}

/// Runs `nodes` nodes that each send a datagram heartbeat to every other node every
/// `heartbeat_ms`, for `duration_ms` simulated, at `seed` on a fresh thread.
pub fn heartbeat_only(seed: u64, nodes: u8, heartbeat_ms: u64, duration_ms: u64) -> BaselineRun {
    run_isolated(seed, nodes, duration_ms, move |own, counts| {
        beat_datagrams(own, nodes, heartbeat_ms, counts)
    })
}

/// As [`heartbeat_only`], with every heartbeat a frame on the peer streams the nodes
/// use for consensus ([`psionic_net::stream`]): a writer task per peer, a reader task
/// per connection, and the node taking frames from its readers' queue.
pub fn stream_heartbeats(seed: u64, nodes: u8, heartbeat_ms: u64, duration_ms: u64) -> BaselineRun {
    run_isolated(seed, nodes, duration_ms, move |own, counts| {
        beat_streams(own, nodes, heartbeat_ms, counts)
    })
}

fn addr(octet: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, octet)), PORT)
}

/// Starts `nodes` simulated nodes running `node(octet, counts)` and lets them run
/// for `duration_ms`, at `seed`, on a fresh thread (a madsim runtime per thread).
fn run_isolated<F, Fut>(seed: u64, nodes: u8, duration_ms: u64, node: F) -> BaselineRun
where
    F: Fn(u8, Counts) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = ()> + 'static,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
                let counts = Counts::default();
                let started = Instant::now();
                runtime.block_on(start_nodes(nodes, duration_ms, counts.clone(), node));
                BaselineRun {
                    wall: started.elapsed(),
                    frames_sent: counts.sent.load(Ordering::Relaxed),
                    frames_received: counts.received.load(Ordering::Relaxed),
                }
            })
            .join()
            .expect("the baseline does not panic")
    })
}

async fn start_nodes<F, Fut>(nodes: u8, duration_ms: u64, counts: Counts, node: F)
where
    F: Fn(u8, Counts) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let handle = madsim::runtime::Handle::current();
    for octet in 1..=nodes {
        let counts = counts.clone();
        handle
            .create_node()
            .name(format!("n{octet}"))
            .ip(addr(octet).ip())
            .init(move || node(octet, counts.clone()))
            .build();
    }
    tokio::time::sleep(Duration::from_millis(duration_ms)).await;
}

async fn beat_datagrams(own: u8, nodes: u8, heartbeat_ms: u64, counts: Counts) {
    let socket = Arc::new(
        psionic_net::udp::UdpSocket::bind(addr(own))
            .await
            .expect("a fresh simulated node binds"),
    );
    let receiver = socket.clone();
    let received = counts.received.clone();
    madsim::task::spawn(async move {
        let mut buffer = vec![0u8; HEARTBEAT_BYTES];
        while receiver.recv_from(&mut buffer).await.is_ok() {
            received.fetch_add(1, Ordering::Relaxed);
        }
    });
    let payload = vec![7u8; HEARTBEAT_BYTES];
    let mut interval = tokio::time::interval(Duration::from_millis(heartbeat_ms));
    loop {
        interval.tick().await;
        for other in (1..=nodes).filter(|other| *other != own) {
            if psionic_net::udp::send_to(&socket, &payload, addr(other)).await.is_ok() {
                counts.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn beat_streams(own: u8, nodes: u8, heartbeat_ms: u64, counts: Counts) {
    let listener = tokio::net::TcpListener::bind(addr(own))
        .await
        .expect("a fresh simulated node binds");
    let (inbound_tx, mut inbound) = tokio::sync::mpsc::channel(INBOUND_FRAMES_MAX);
    let _acceptor = stream::spawn_acceptor(listener, inbound_tx, Default::default());
    let mut outbound = Outbound::default();
    let mut interval = tokio::time::interval(Duration::from_millis(heartbeat_ms));
    loop {
        tokio::select! {
            biased;
            _ = interval.tick() => {
                for other in (1..=nodes).filter(|other| *other != own) {
                    outbound.send(addr(other), vec![7u8; HEARTBEAT_BYTES]);
                    counts.sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(_) = inbound.recv() => {
                counts.received.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3 nodes, 2 peers each, a beat every 100 ms for 2 s: at least 120 heartbeats,
    /// and every one arrives but those of the last beat, still in flight.
    fn assert_delivered(run: BaselineRun) {
        assert!(run.frames_sent >= 120, "{run:?}");
        assert!(run.frames_received <= run.frames_sent, "{run:?}");
        assert!(run.frames_received + 6 >= run.frames_sent, "{run:?}");
    }

    #[test]
    fn datagram_heartbeats_arrive() {
        assert_delivered(heartbeat_only(7, 3, 100, 2_000));
    }

    #[test]
    fn stream_heartbeats_arrive() {
        assert_delivered(stream_heartbeats(7, 3, 100, 2_000));
    }
}

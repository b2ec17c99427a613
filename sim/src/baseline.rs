//! The simulator's own floor: madsim nodes that only exchange heartbeat datagrams, no
//! consensus, no authentication. A scenario's speed is reported against it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Bytes of one baseline heartbeat (about a signed, encoded append with no entries).
const HEARTBEAT_BYTES: usize = 160;

/// What one baseline run took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaselineRun {
    /// Wall time.
    pub wall: Duration,
    /// Heartbeat datagrams sent.
    pub datagrams: u64,
}

/// Runs `nodes` nodes that each send a heartbeat to every other node every
/// `heartbeat_ms`, for `duration_ms` simulated, at `seed` on a fresh thread.
pub fn heartbeat_only(seed: u64, nodes: u8, heartbeat_ms: u64, duration_ms: u64) -> BaselineRun {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
                let sent = Arc::new(AtomicU64::new(0));
                let started = Instant::now();
                runtime.block_on(run(nodes, heartbeat_ms, duration_ms, sent.clone()));
                BaselineRun {
                    wall: started.elapsed(),
                    datagrams: sent.load(Ordering::Relaxed),
                }
            })
            .join()
            .expect("the baseline does not panic")
    })
}

async fn run(nodes: u8, heartbeat_ms: u64, duration_ms: u64, sent: Arc<AtomicU64>) {
    let handle = madsim::runtime::Handle::current();
    let addr = |octet: u8| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, octet)), 7400);
    for octet in 1..=nodes {
        handle
            .create_node()
            .name(format!("n{octet}"))
            .ip(addr(octet).ip())
            .init({
                let sent = sent.clone();
                move || beat(octet, nodes, heartbeat_ms, addr, sent.clone())
            })
            .build();
    }
    tokio::time::sleep(Duration::from_millis(duration_ms)).await;
}

async fn beat(own: u8, nodes: u8, heartbeat_ms: u64, addr: fn(u8) -> SocketAddr, sent: Arc<AtomicU64>) {
    let socket = std::sync::Arc::new(
        psionic_net::udp::UdpSocket::bind(addr(own))
            .await
            .expect("a fresh simulated node binds"),
    );
    let receiver = socket.clone();
    madsim::task::spawn(async move {
        let mut buffer = vec![0u8; HEARTBEAT_BYTES];
        while receiver.recv_from(&mut buffer).await.is_ok() {}
    });
    let payload = vec![7u8; HEARTBEAT_BYTES];
    let mut interval = tokio::time::interval(Duration::from_millis(heartbeat_ms));
    loop {
        interval.tick().await;
        for other in (1..=nodes).filter(|other| *other != own) {
            if psionic_net::udp::send_to(&socket, &payload, addr(other)).await.is_ok() {
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

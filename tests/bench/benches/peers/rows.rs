//! What is measured. Each row's two sides are measured as a pair (see
//! [`paired`]): the same criterion sample times both.

use criterion::Criterion;
use ed25519_dalek::SigningKey;

use crate::consensus::ConsensusCluster;
use crate::ours::{OursCluster, Posture};
use crate::raftrs::RaftCluster;
use crate::receipt::{paired, timed};
use crate::{burst, crypto, net, plan};

pub const SIZES: [usize; 2] = [3, 5];
pub const BATCHES: [usize; 3] = [1, 16, 256];
pub const SIGNED_BATCHES: [usize; 2] = [1, 16];
/// Frames per K2 burst.
pub const BURST_FRAMES: [u64; 2] = [64, 256];
pub const SNAPSHOT_MIBS: [usize; 2] = [1, 64];
const MIB: usize = 1024 * 1024;

/// What C2's ed25519 limit is made of.
#[derive(Clone, Copy, Debug)]
pub struct SignedLimit {
    /// Frames one commit round delivers, by batch size as measured (the limit signs
    /// and verifies this many, rounded).
    pub frames_per_round: [f64; SIGNED_BATCHES.len()],
}

/// Runs every measurement.
pub fn measure(criterion: &mut Criterion) -> SignedLimit {
    commit_throughput(criterion);
    mac_commits(criterion);
    let limit = signed_commits(criterion);
    envelope(criterion);
    bursts(criterion);
    digests(criterion);
    network(criterion);
    placement(criterion);
    limit
}

fn commit_throughput(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("C1");
    for size in SIZES {
        for batch in BATCHES {
            let key = format!("C1/{size}n/b{batch}");
            let (mut ours, mut raft) = (ConsensusCluster::new(size), RaftCluster::new(size));
            group.bench_function(&key, |b| {
                paired(b, &key, || ours.commit_batch(batch), || raft.commit_batch(batch))
            });
        }
    }
    group.finish();
}

/// C1's shape through whole nodes in the MAC posture (every message a frame, encoded,
/// sealed, decoded and verified), beside the consensus alone.
fn mac_commits(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("C2");
    for size in SIZES {
        for batch in BATCHES {
            let key = format!("C2/mac/{size}n/b{batch}");
            let (mut nodes, mut bare) = (OursCluster::new(size, Posture::Mac), ConsensusCluster::new(size));
            group.bench_function(&key, |b| {
                paired(b, &key, || nodes.commit_batch(batch), || bare.commit_batch(batch))
            });
        }
    }
    group.finish();
}

fn signed_commits(criterion: &mut Criterion) -> SignedLimit {
    let mut group = criterion.benchmark_group("C2");
    let mut limit = SignedLimit {
        frames_per_round: [0.0; SIGNED_BATCHES.len()],
    };
    let key_pair = SigningKey::from_bytes(&[9; 32]);
    let message = vec![5u8; 256];
    for (slot, batch) in SIGNED_BATCHES.into_iter().enumerate() {
        let key = format!("C2/ed25519/3n/b{batch}");
        let mut cluster = OursCluster::new(3, Posture::Ed25519);
        let before = cluster.frames;
        for _ in 0..10 {
            cluster.commit_batch(batch);
        }
        let frames = (cluster.frames - before) as f64 / 10.0;
        limit.frames_per_round[slot] = frames;
        let signs = frames.round() as usize;
        group.bench_function(&key, |b| {
            paired(
                b,
                &key,
                || cluster.commit_batch(batch),
                || {
                    for _ in 0..signs {
                        crypto::sign_and_verify(&key_pair, &message);
                    }
                },
            )
        });
    }
    group.finish();
    limit
}

fn envelope(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("K1");
    let frame = crypto::SignedFrame::new();
    group.bench_function("K1", |b| {
        paired(b, "K1", || frame.decode_and_verify(), || frame.raw_verify())
    });
    group.finish();
}

fn bursts(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("K2");
    for n in BURST_FRAMES {
        let burst = std::cell::RefCell::new(burst::SignedBurst::new(n));
        let key = format!("K2/n{n}");
        group.bench_function(&key, |b| {
            paired(
                b,
                &key,
                || burst.borrow_mut().deliver(),
                || burst.borrow().raw_verify_batch(),
            )
        });
    }
    group.finish();
}

fn digests(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("K3");
    for mib in SNAPSHOT_MIBS {
        let bytes = vec![0x5a; mib * MIB];
        let key = format!("K3/{mib}MiB");
        group.bench_function(&key, |b| {
            paired(
                b,
                &key,
                || {
                    std::hint::black_box(crypto::snapshot_digest(&bytes));
                },
                || {
                    std::hint::black_box(crypto::raw_sha256(&bytes));
                },
            )
        });
    }
    group.finish();
}

fn network(criterion: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pair = net::Pair::new();
    let sockets = runtime.block_on(net::UdpPair::bind());
    let mut group = criterion.benchmark_group("N1");
    let mut counter = 0;
    let bytes = vec![1u8; 120];
    group.bench_function("N1", |b| {
        paired(
            b,
            "N1",
            || {
                counter += 1;
                runtime.block_on(sockets.heartbeat(&pair, counter));
            },
            || {
                runtime.block_on(sockets.ping_pong(&bytes));
                pair.heartbeat_in_memory(1);
            },
        )
    });
    group.finish();

    let mut group = criterion.benchmark_group("S1");
    let snapshot = net::snapshot_of(64);
    group.bench_function("S1", |b| {
        paired(
            b,
            "S1",
            || runtime.block_on(net::send_snapshot(&pair, &snapshot)),
            || runtime.block_on(net::send_raw(&snapshot.bytes)),
        )
    });
    group.finish();
}

fn placement(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("P1");
    let fleet = plan::Fleet::new();
    group.bench_function("P1/ours/whole", |b| timed(b, "P1/ours/whole", || fleet.place_whole()));
    group.bench_function("P1/ours/layers", |b| {
        timed(b, "P1/ours/layers", || fleet.place_layers())
    });
    group.bench_function("P1/scan", |b| timed(b, "P1/scan", || fleet.full_scan()));
    group.finish();
}

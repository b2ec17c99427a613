//! What is measured, and the rows made of it.

use std::collections::BTreeMap;

use criterion::Criterion;
use ed25519_dalek::SigningKey;

use crate::consensus::ConsensusCluster;
use crate::ours::{OursCluster, Posture};
use crate::raftrs::RaftCluster;
use psionic_core::receipt::Target;

use crate::receipt::{Row, median_ns, timed};
use crate::{burst, crypto, net, plan};

const SIZES: [usize; 2] = [3, 5];
const BATCHES: [usize; 3] = [1, 16, 256];
const SIGNED_BATCHES: [usize; 2] = [1, 16];
const MIB: usize = 1024 * 1024;

/// Runs every measurement; returns frames per commit round of the ed25519 cluster,
/// by batch size (for the crypto limit of C2).
pub fn measure(criterion: &mut Criterion) -> BTreeMap<usize, f64> {
    commit_throughput(criterion);
    mac_commits(criterion);
    let frames = signed_commits(criterion);
    envelope(criterion);
    bursts(criterion);
    digests(criterion);
    network(criterion);
    placement(criterion);
    frames
}

fn commit_throughput(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("C1");
    for size in SIZES {
        for batch in BATCHES {
            let ours = format!("C1/ours/{size}n/b{batch}");
            let mut cluster = ConsensusCluster::new(size);
            group.bench_function(&ours, |b| timed(b, &ours, || cluster.commit_batch(batch)));
            let peer = format!("C1/raft-rs/{size}n/b{batch}");
            let mut raft = RaftCluster::new(size);
            group.bench_function(&peer, |b| timed(b, &peer, || raft.commit_batch(batch)));
        }
    }
    group.finish();
}

/// C1's shape through whole nodes in the MAC posture: every message a frame, encoded,
/// sealed, decoded and verified.
fn mac_commits(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("C2");
    for size in SIZES {
        for batch in BATCHES {
            let key = format!("C2/ours-mac/{size}n/b{batch}");
            let mut cluster = OursCluster::new(size, Posture::Mac);
            group.bench_function(&key, |b| timed(b, &key, || cluster.commit_batch(batch)));
        }
    }
    group.finish();
}

fn signed_commits(criterion: &mut Criterion) -> BTreeMap<usize, f64> {
    let mut group = criterion.benchmark_group("C2");
    let mut frames = BTreeMap::new();
    for batch in SIGNED_BATCHES {
        let key = format!("C2/ours-ed25519/3n/b{batch}");
        let mut cluster = OursCluster::new(3, Posture::Ed25519);
        let before = cluster.frames;
        for _ in 0..10 {
            cluster.commit_batch(batch);
        }
        frames.insert(batch, (cluster.frames - before) as f64 / 10.0);
        group.bench_function(&key, |b| timed(b, &key, || cluster.commit_batch(batch)));
    }
    let key = SigningKey::from_bytes(&[9; 32]);
    let message = vec![5u8; 256];
    group.bench_function("C2/limit/sign+verify", |b| {
        timed(b, "C2/limit/sign+verify", || crypto::sign_and_verify(&key, &message))
    });
    group.finish();
    frames
}

fn envelope(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("K1");
    let frame = crypto::SignedFrame::new();
    group.bench_function("K1/ours", |b| timed(b, "K1/ours", || frame.decode_and_verify()));
    group.bench_function("K1/raw", |b| timed(b, "K1/raw", || frame.raw_verify()));
    group.finish();
}

/// Frames per K2 burst.
const BURST_FRAMES: [u64; 2] = [64, 256];

fn bursts(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("K2");
    for n in BURST_FRAMES {
        let mut burst = burst::SignedBurst::new(n);
        let (ours, raw) = (format!("K2/ours/n{n}"), format!("K2/raw/n{n}"));
        group.bench_function(&ours, |b| timed(b, &ours, || burst.deliver()));
        group.bench_function(&raw, |b| timed(b, &raw, || burst.raw_verify_batch()));
    }
    group.finish();
}

fn digests(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("K3");
    for mib in [1, 64] {
        let bytes = vec![0x5a; mib * MIB];
        let (ours, raw) = (format!("K3/ours/{mib}MiB"), format!("K3/raw/{mib}MiB"));
        group.bench_function(&ours, |b| {
            timed(b, &ours, || {
                std::hint::black_box(crypto::snapshot_digest(&bytes));
            })
        });
        group.bench_function(&raw, |b| {
            timed(b, &raw, || {
                std::hint::black_box(crypto::raw_sha256(&bytes));
            })
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
    group.bench_function("N1/ours", |b| {
        timed(b, "N1/ours", || {
            counter += 1;
            runtime.block_on(sockets.heartbeat(&pair, counter));
        })
    });
    let bytes = vec![1u8; 120];
    group.bench_function("N1/raw", |b| {
        timed(b, "N1/raw", || runtime.block_on(sockets.ping_pong(&bytes)))
    });
    group.bench_function("N1/crypto", |b| timed(b, "N1/crypto", || pair.heartbeat_in_memory(1)));
    group.finish();

    let mut group = criterion.benchmark_group("S1");
    let snapshot = net::snapshot_of(64);
    group.bench_function("S1/ours", |b| {
        timed(b, "S1/ours", || runtime.block_on(net::send_snapshot(&pair, &snapshot)))
    });
    group.bench_function("S1/raw", |b| {
        timed(b, "S1/raw", || runtime.block_on(net::send_raw(&snapshot.bytes)))
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

/// The table: each ratio from two measurements of this run.
pub fn rows(frames_per_round: &BTreeMap<usize, f64>) -> Vec<Row> {
    let ns = |key: &str| median_ns(key).unwrap_or(f64::NAN);
    let mut rows = Vec::new();
    for size in SIZES {
        for batch in BATCHES {
            let (ours, peer) = (
                ns(&format!("C1/ours/{size}n/b{batch}")),
                ns(&format!("C1/raft-rs/{size}n/b{batch}")),
            );
            rows.push(Row {
                id: format!("C1-{size}n-b{batch}"),
                ours: format!(
                    "psionic consensus, {size} nodes, messages handed over as values, batch of {batch} 64-byte commands applied on every node"
                ),
                ours_ns: ours,
                peer: format!("raft-rs RawNode + MemStorage, {size} nodes, same batch"),
                peer_ns: peer,
                ratio_means: "ours throughput / raft-rs throughput",
                ratio: peer / ours,
                goal: Target::AtLeast(1.0),
            });
        }
    }
    for size in SIZES {
        for batch in BATCHES {
            let (ours, bare) = (
                ns(&format!("C2/ours-mac/{size}n/b{batch}")),
                ns(&format!("C1/ours/{size}n/b{batch}")),
            );
            rows.push(Row {
                id: format!("C2-mac-{size}n-b{batch}"),
                ours: format!(
                    "psionic nodes, {size} nodes, MAC posture: every message a sealed frame, batch of {batch}"
                ),
                ours_ns: ours,
                peer: format!("C1: the same consensus without frames or authentication, {size} nodes"),
                peer_ns: bare,
                ratio_means: "ours time / C1 time",
                ratio: ours / bare,
                goal: Target::None,
            });
        }
    }
    let sign_verify = ns("C2/limit/sign+verify");
    for batch in SIGNED_BATCHES {
        let frames = frames_per_round[&batch];
        let ours = ns(&format!("C2/ours-ed25519/3n/b{batch}"));
        rows.push(Row {
            id: format!("C2-ed25519-3n-b{batch}"),
            ours: format!("psionic nodes, 3 nodes, ed25519 posture, batch of {batch}"),
            ours_ns: ours,
            peer: format!("crypto limit: {frames:.1} frames per round x (sign + verify)"),
            peer_ns: frames * sign_verify,
            ratio_means: "ours time / crypto limit time",
            ratio: ours / (frames * sign_verify),
            goal: Target::AtMost(1.3),
        });
    }
    rows.push(throughput_row(
        "K1",
        "envelope decode + ed25519 verify",
        "raw verify_strict on the same bytes",
        ns("K1/ours"),
        ns("K1/raw"),
        0.9,
    ));
    for n in BURST_FRAMES {
        rows.push(throughput_row(
            &format!("K2-n{n}"),
            &format!("{n} signed frames handed to the core as one stream input (decode, batch verify, replay check)"),
            "raw verify_batch on the same bytes",
            ns(&format!("K2/ours/n{n}")),
            ns(&format!("K2/raw/n{n}")),
            0.9,
        ));
    }
    for mib in [1, 64] {
        let (ours, raw) = (ns(&format!("K3/ours/{mib}MiB")), ns(&format!("K3/raw/{mib}MiB")));
        rows.push(throughput_row(
            &format!("K3-{mib}MiB"),
            "snapshot payload digest",
            "raw SHA-256",
            ours,
            raw,
            0.9,
        ));
    }
    let (ours, raw, crypto) = (ns("N1/ours"), ns("N1/raw"), ns("N1/crypto"));
    rows.push(Row {
        id: "N1".into(),
        ours: "heartbeat round trip: encode, MAC, UDP, verify, decode, both ways".into(),
        ours_ns: ours,
        peer: "raw UDP ping-pong + the same codec and MAC in memory".into(),
        peer_ns: raw + crypto,
        ratio_means: "ours time / (raw + crypto) time",
        ratio: ours / (raw + crypto),
        goal: Target::AtMost(1.2),
    });
    rows.push(throughput_row(
        "S1",
        "4 MiB snapshot: authenticated chunks over TCP, verify, decode",
        "raw TCP + SHA-256 + copy",
        ns("S1/ours"),
        ns("S1/raw"),
        0.5,
    ));
    let scan = ns("P1/scan");
    for (lane, key, budget_ns) in [
        ("whole", "P1/ours/whole", 50_000.0),
        ("layers", "P1/ours/layers", 1_000_000.0),
    ] {
        let ours = ns(key);
        rows.push(Row {
            id: format!("P1-{lane}"),
            ours: format!("{lane} placement over {} nodes (p50)", plan::NODES),
            ours_ns: ours,
            peer: format!("budget {budget_ns} ns; a naive full scan of the same facts takes {scan:.0} ns"),
            peer_ns: budget_ns,
            ratio_means: "ours p50 time / budget",
            ratio: ours / budget_ns,
            goal: Target::AtMost(1.0),
        });
    }
    rows
}

fn throughput_row(id: &str, ours: &str, peer: &str, ours_ns: f64, peer_ns: f64, at_least: f64) -> Row {
    Row {
        id: id.into(),
        ours: ours.into(),
        ours_ns,
        peer: peer.into(),
        peer_ns,
        ratio_means: "ours rate / peer rate",
        ratio: peer_ns / ours_ns,
        goal: Target::AtLeast(at_least),
    }
}

//! The table: each row's ratio from the paired samples of this run.

use psionic_core::receipt::Target;

use crate::plan;
use crate::receipt::{Paired, Row, median_ns, paired_medians};
use crate::rows::{BATCHES, BURST_FRAMES, SIGNED_BATCHES, SIZES, SNAPSHOT_MIBS, SignedLimit};

/// Ratio of rates (ours faster: above 1).
fn rate(ours_ns: f64, peer_ns: f64) -> f64 {
    peer_ns / ours_ns
}

/// Ratio of times (ours faster: below 1).
fn time(ours_ns: f64, peer_ns: f64) -> f64 {
    ours_ns / peer_ns
}

const MISSING: Paired = Paired {
    ours_ns: f64::NAN,
    peer_ns: f64::NAN,
    ratio: f64::NAN,
};

fn pair(key: &str, ratio: fn(f64, f64) -> f64) -> Paired {
    paired_medians(key, ratio).unwrap_or(MISSING)
}

fn row(id: String, (ours, peer): (String, String), measured: Paired, ratio_means: &'static str, goal: Target) -> Row {
    Row {
        id,
        ours,
        ours_ns: measured.ours_ns,
        peer,
        peer_ns: measured.peer_ns,
        ratio_means,
        ratio: measured.ratio,
        goal,
    }
}

/// Every row of this run.
pub fn rows(limit: &SignedLimit) -> Vec<Row> {
    let mut rows = commit_rows();
    rows.extend(signed_rows(limit));
    rows.extend(crypto_rows());
    rows.extend(network_rows());
    rows.extend(placement_rows());
    rows
}

fn commit_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for size in SIZES {
        for batch in BATCHES {
            let sides = (
                format!(
                    "psionic consensus, {size} nodes, messages handed over as values, batch of {batch} 64-byte commands applied on every node"
                ),
                format!("raft-rs RawNode + MemStorage, {size} nodes, same batch"),
            );
            let measured = pair(&format!("C1/{size}n/b{batch}"), rate);
            let means = "ours throughput / raft-rs throughput";
            rows.push(row(
                format!("C1-{size}n-b{batch}"),
                sides,
                measured,
                means,
                Target::AtLeast(1.0),
            ));
        }
    }
    for size in SIZES {
        for batch in BATCHES {
            let sides = (
                format!("psionic nodes, {size} nodes, MAC posture: every message a sealed frame, batch of {batch}"),
                format!("C1: the same consensus without frames or authentication, {size} nodes"),
            );
            let measured = pair(&format!("C2/mac/{size}n/b{batch}"), time);
            rows.push(row(
                format!("C2-mac-{size}n-b{batch}"),
                sides,
                measured,
                "ours time / C1 time",
                Target::None,
            ));
        }
    }
    rows
}

fn signed_rows(limit: &SignedLimit) -> Vec<Row> {
    SIGNED_BATCHES
        .into_iter()
        .zip(limit.frames_per_round)
        .map(|(batch, frames)| {
            let sides = (
                format!("psionic nodes, 3 nodes, ed25519 posture, batch of {batch}"),
                format!(
                    "crypto limit: {frames:.1} frames per round, so {} x (sign + verify)",
                    frames.round()
                ),
            );
            let measured = pair(&format!("C2/ed25519/3n/b{batch}"), time);
            let means = "ours time / crypto limit time";
            row(
                format!("C2-ed25519-3n-b{batch}"),
                sides,
                measured,
                means,
                Target::AtMost(1.3),
            )
        })
        .collect()
}

fn crypto_rows() -> Vec<Row> {
    let throughput = |id: String, ours: &str, peer: &str, key: &str| {
        let sides = (ours.to_owned(), peer.to_owned());
        row(
            id,
            sides,
            pair(key, rate),
            "ours rate / peer rate",
            Target::AtLeast(0.9),
        )
    };
    let mut rows = vec![throughput(
        "K1".into(),
        "envelope decode + ed25519 verify",
        "raw verify_strict on the same bytes",
        "K1",
    )];
    for n in BURST_FRAMES {
        rows.push(throughput(
            format!("K2-n{n}"),
            &format!("{n} signed frames handed to the core as one stream input (decode, batch verify, replay check)"),
            "raw verify_batch on the same bytes",
            &format!("K2/n{n}"),
        ));
    }
    for mib in SNAPSHOT_MIBS {
        rows.push(throughput(
            format!("K3-{mib}MiB"),
            "snapshot payload digest",
            "raw SHA-256",
            &format!("K3/{mib}MiB"),
        ));
    }
    rows
}

fn network_rows() -> Vec<Row> {
    let heartbeat = (
        "heartbeat round trip: encode, MAC, UDP, verify, decode, both ways".to_owned(),
        "raw UDP ping-pong + the same codec and MAC in memory".to_owned(),
    );
    let snapshot = (
        "4 MiB snapshot: authenticated chunks over TCP, verify, decode".to_owned(),
        "raw TCP + SHA-256 + copy".to_owned(),
    );
    vec![
        row(
            "N1".into(),
            heartbeat,
            pair("N1", time),
            "ours time / (raw + crypto) time",
            Target::AtMost(1.2),
        ),
        row(
            "S1".into(),
            snapshot,
            pair("S1", rate),
            "ours rate / peer rate",
            Target::AtLeast(0.5),
        ),
    ]
}

fn placement_rows() -> Vec<Row> {
    let ns = |key: &str| median_ns(key).unwrap_or(f64::NAN);
    let scan = ns("P1/scan");
    [
        ("whole", "P1/ours/whole", 50_000.0),
        ("layers", "P1/ours/layers", 1_000_000.0),
    ]
    .into_iter()
    .map(|(lane, key, budget_ns)| {
        let ours = ns(key);
        Row {
            id: format!("P1-{lane}"),
            ours: format!("{lane} placement over {} nodes (p50)", plan::NODES),
            ours_ns: ours,
            peer: format!("budget {budget_ns} ns; a naive full scan of the same facts takes {scan:.0} ns"),
            peer_ns: budget_ns,
            ratio_means: "ours p50 time / budget",
            ratio: ours / budget_ns,
            goal: Target::AtMost(1.0),
        }
    })
    .collect()
}

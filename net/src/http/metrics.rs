//! `GET /metrics`: Prometheus text exposition of the node's status and counters.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use psionic_core::{NodeStatus, PeerHealth, RoleKind};

use super::ApiState;
use crate::metrics::{LATENCY_BUCKETS_MS, NodeMetrics};
use crate::stream::StreamCounts;

pub(super) async fn get_metrics(State(api): State<ApiState>) -> Response {
    let Some(status) = api.client.status().await else {
        return super::node_stopped();
    };
    let text = render(&status, &api.metrics.borrow(), api.peer_streams.read());
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The exposition text for `status`, `metrics` and the peer-stream listener's
/// `streams`.
pub fn render(status: &NodeStatus, metrics: &NodeMetrics, streams: StreamCounts) -> String {
    let mut out = String::new();
    let role = match status.consensus_role {
        RoleKind::Follower => 0,
        RoleKind::PreCandidate => 1,
        RoleKind::Candidate => 2,
        RoleKind::Leader => 3,
    };
    gauge(&mut out, "psionic_term", "Current consensus term.", status.term);
    gauge(
        &mut out,
        "psionic_commit_index",
        "Highest index known committed.",
        status.commit_index,
    );
    gauge(
        &mut out,
        "psionic_applied_index",
        "Highest index applied.",
        status.applied_index,
    );
    gauge(
        &mut out,
        "psionic_last_log_index",
        "Index of the last log entry.",
        status.last_index,
    );
    gauge(
        &mut out,
        "psionic_consensus_role",
        "0 follower, 1 pre-candidate, 2 candidate, 3 leader.",
        role,
    );
    gauge(&mut out, "psionic_epoch", "This life of the node.", status.epoch.0);
    counter(
        &mut out,
        "psionic_leader_changes_total",
        "Times the known leader changed.",
        metrics.leader_changes,
    );
    counter(
        &mut out,
        "psionic_elections_total",
        "Elections this node stood in.",
        metrics.elections_started,
    );
    counter(
        &mut out,
        "psionic_proposals_committed_total",
        "Proposals made here that committed.",
        metrics.proposals_committed,
    );
    counter(
        &mut out,
        "psionic_proposals_rejected_total",
        "Proposals made here that were rejected.",
        metrics.proposals_rejected,
    );
    refusals(&mut out, status);
    peer_streams(&mut out, streams);
    peers(&mut out, status);
    latency(&mut out, metrics);
    let store = metrics.store;
    gauge(
        &mut out,
        "psionic_log_entries",
        "Entries retained in the log.",
        store.log_entries,
    );
    gauge(
        &mut out,
        "psionic_log_segments",
        "Log segment files.",
        store.log_segments,
    );
    gauge(
        &mut out,
        "psionic_log_active_segment_bytes",
        "Bytes in the log segment being appended to.",
        store.active_segment_bytes,
    );
    gauge(
        &mut out,
        "psionic_snapshot_bytes",
        "Bytes of the latest snapshot.",
        store.snapshot_bytes,
    );
    out
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
}

fn refusals(out: &mut String, status: &NodeStatus) {
    out.push_str("# HELP psionic_refusals_total Frames and messages refused, by rule.\n");
    out.push_str("# TYPE psionic_refusals_total counter\n");
    for (kind, count) in status.refusals.iter() {
        let _ = writeln!(out, "psionic_refusals_total{{kind=\"{}\"}} {count}", kind.name());
    }
}

fn peer_streams(out: &mut String, streams: StreamCounts) {
    gauge(
        out,
        "psionic_peer_streams_open",
        "Connections open on the peer-stream listener.",
        streams.open(),
    );
    out.push_str(
        "# HELP psionic_peer_streams_total Connections to the peer-stream listener, by what became of them.\n",
    );
    out.push_str("# TYPE psionic_peer_streams_total counter\n");
    for (outcome, count) in [
        ("accepted", streams.accepted),
        ("refused-full", streams.refused_full),
        ("ended", streams.ended),
        ("idle", streams.idle),
        ("oversize", streams.oversize),
    ] {
        let _ = writeln!(out, "psionic_peer_streams_total{{outcome=\"{outcome}\"}} {count}");
    }
}

fn peers(out: &mut String, status: &NodeStatus) {
    out.push_str("# HELP psionic_peers Known peers, by discovery health.\n");
    out.push_str("# TYPE psionic_peers gauge\n");
    for (health, name) in [
        (PeerHealth::Reachable, "reachable"),
        (PeerHealth::Degraded, "degraded"),
        (PeerHealth::Unreachable, "unreachable"),
    ] {
        let count = status.peers.iter().filter(|peer| peer.health == health).count();
        let _ = writeln!(out, "psionic_peers{{health=\"{name}\"}} {count}");
    }
}

fn latency(out: &mut String, metrics: &NodeMetrics) {
    let histogram = &metrics.proposal_latency;
    let name = "psionic_proposal_latency_ms";
    let _ = write!(
        out,
        "# HELP {name} From proposal to outcome, for proposals made here.\n# TYPE {name} histogram\n"
    );
    for (bound, count) in LATENCY_BUCKETS_MS.iter().zip(histogram.cumulative) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = write!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}\n",
        count = histogram.count,
        sum = histogram.sum_ms
    );
}

//! `GET /metrics`: the node's status and counters in the Prometheus text exposition
//! format, built as metric families and encoded by the `prometheus` crate.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use prometheus::proto::{Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder as _, TextEncoder};
use psionic_core::{NodeStatus, PeerHealth, RoleKind};

use super::ApiState;
use crate::metrics::{LATENCY_BUCKETS_MS, NodeMetrics};
use crate::stream::StreamCounts;

pub(super) async fn get_metrics(State(api): State<ApiState>) -> Response {
    let Some(status) = api.client.status().await else {
        return super::node_stopped();
    };
    let encoder = TextEncoder::new();
    let families = families(&status, &api.metrics.borrow(), api.peer_streams.read());
    match encoder.encode_to_string(&families) {
        Ok(text) => ([(CONTENT_TYPE, encoder.format_type().to_owned())], text).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// Every metric family of one scrape, in exposition order.
fn families(status: &NodeStatus, metrics: &NodeMetrics, streams: StreamCounts) -> Vec<MetricFamily> {
    let role = match status.consensus_role {
        RoleKind::Follower => 0,
        RoleKind::PreCandidate => 1,
        RoleKind::Candidate => 2,
        RoleKind::Leader => 3,
    };
    let store = metrics.store;
    vec![
        gauge("psionic_term", "Current consensus term.", status.term),
        gauge(
            "psionic_commit_index",
            "Highest index known committed.",
            status.commit_index,
        ),
        gauge("psionic_applied_index", "Highest index applied.", status.applied_index),
        gauge(
            "psionic_last_log_index",
            "Index of the last log entry.",
            status.last_index,
        ),
        gauge(
            "psionic_consensus_role",
            "0 follower, 1 pre-candidate, 2 candidate, 3 leader.",
            role,
        ),
        gauge("psionic_epoch", "This life of the node.", status.epoch.0),
        counter(
            "psionic_leader_changes_total",
            "Times the known leader changed.",
            metrics.leader_changes,
        ),
        counter(
            "psionic_elections_total",
            "Elections this node stood in.",
            metrics.elections_started,
        ),
        counter(
            "psionic_proposals_committed_total",
            "Proposals made here that committed.",
            metrics.proposals_committed,
        ),
        counter(
            "psionic_proposals_rejected_total",
            "Proposals made here that were rejected.",
            metrics.proposals_rejected,
        ),
        refusals(status),
        gauge(
            "psionic_peer_streams_open",
            "Connections open on the peer-stream listener.",
            streams.open(),
        ),
        peer_streams(streams),
        peers(status),
        latency(metrics),
        gauge("psionic_log_entries", "Entries retained in the log.", store.log_entries),
        gauge("psionic_log_segments", "Log segment files.", store.log_segments),
        gauge(
            "psionic_log_active_segment_bytes",
            "Bytes in the log segment being appended to.",
            store.active_segment_bytes,
        ),
        gauge(
            "psionic_snapshot_bytes",
            "Bytes of the latest snapshot.",
            store.snapshot_bytes,
        ),
    ]
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    family.set_metric(metrics);
    family
}

/// A sample labelled `label="value"` (none: unlabelled).
fn sample(label: Option<(&str, &str)>, fill: impl FnOnce(&mut Metric)) -> Metric {
    let mut metric = Metric::default();
    if let Some((name, value)) = label {
        let mut pair = LabelPair::default();
        pair.set_name(name.to_owned());
        pair.set_value(value.to_owned());
        metric.set_label(vec![pair]);
    }
    fill(&mut metric);
    metric
}

fn gauge_sample(label: Option<(&str, &str)>, value: u64) -> Metric {
    sample(label, |metric| {
        let mut gauge = Gauge::default();
        gauge.set_value(value as f64);
        metric.set_gauge(gauge);
    })
}

fn counter_sample(label: Option<(&str, &str)>, value: u64) -> Metric {
    sample(label, |metric| {
        let mut counter = Counter::default();
        counter.set_value(value as f64);
        metric.set_counter(counter);
    })
}

fn gauge(name: &str, help: &str, value: u64) -> MetricFamily {
    family(name, help, MetricType::GAUGE, vec![gauge_sample(None, value)])
}

fn counter(name: &str, help: &str, value: u64) -> MetricFamily {
    family(name, help, MetricType::COUNTER, vec![counter_sample(None, value)])
}

fn refusals(status: &NodeStatus) -> MetricFamily {
    let samples = status
        .refusals
        .iter()
        .map(|(kind, count)| counter_sample(Some(("kind", kind.name())), count))
        .collect();
    let help = "Frames and messages refused, by rule.";
    family("psionic_refusals_total", help, MetricType::COUNTER, samples)
}

fn peer_streams(streams: StreamCounts) -> MetricFamily {
    let samples = [
        ("accepted", streams.accepted),
        ("refused-full", streams.refused_full),
        ("ended", streams.ended),
        ("idle", streams.idle),
        ("oversize", streams.oversize),
    ]
    .into_iter()
    .map(|(outcome, count)| counter_sample(Some(("outcome", outcome)), count))
    .collect();
    let help = "Connections to the peer-stream listener, by what became of them.";
    family("psionic_peer_streams_total", help, MetricType::COUNTER, samples)
}

fn peers(status: &NodeStatus) -> MetricFamily {
    let samples = [
        (PeerHealth::Reachable, "reachable"),
        (PeerHealth::Degraded, "degraded"),
        (PeerHealth::Unreachable, "unreachable"),
    ]
    .into_iter()
    .map(|(health, name)| {
        let count = status.peers.iter().filter(|peer| peer.health == health).count();
        gauge_sample(Some(("health", name)), count as u64)
    })
    .collect();
    family(
        "psionic_peers",
        "Known peers, by discovery health.",
        MetricType::GAUGE,
        samples,
    )
}

fn latency(metrics: &NodeMetrics) -> MetricFamily {
    let recorded = &metrics.proposal_latency;
    let buckets = LATENCY_BUCKETS_MS
        .iter()
        .zip(recorded.cumulative)
        .map(|(bound, count)| {
            let mut bucket = Bucket::default();
            bucket.set_upper_bound(*bound);
            bucket.set_cumulative_count(count);
            bucket
        })
        .collect();
    let mut histogram = Histogram::default();
    histogram.set_bucket(buckets);
    histogram.set_sample_count(recorded.count);
    histogram.set_sample_sum(recorded.sum_ms);
    let sample = sample(None, |metric| metric.set_histogram(histogram));
    let help = "From proposal to outcome, for proposals made here.";
    family("psionic_proposal_latency_ms", help, MetricType::HISTOGRAM, vec![sample])
}

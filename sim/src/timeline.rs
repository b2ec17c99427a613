//! A self-contained HTML page of one run: a lane per node showing its role over time
//! (leader, follower, candidate, down, paused), link faults as shaded spans, commits
//! and refusals as marks.

use psionic_core::ConsensusEvent;
use std::collections::BTreeMap;
use std::fmt::Write;

use psionic_core::{Event, RoleKind};

use crate::report::Report;
use crate::trace::{Fault, TraceKind, TraceRecord};

const WIDTH_PX: f64 = 1100.0;
const LABEL_PX: f64 = 90.0;
const LANE_PX: f64 = 28.0;

/// What a lane shows over a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LaneState {
    Follower,
    Candidate,
    Leader,
    Down,
    Paused,
}

impl LaneState {
    fn colour(self) -> &'static str {
        match self {
            LaneState::Follower => "#a5d8ff",
            LaneState::Candidate => "#ffd43b",
            LaneState::Leader => "#2f9e44",
            LaneState::Down => "#495057",
            LaneState::Paused => "#e599f7",
        }
    }

    fn label(self) -> &'static str {
        match self {
            LaneState::Follower => "follower",
            LaneState::Candidate => "candidate",
            LaneState::Leader => "leader",
            LaneState::Down => "down",
            LaneState::Paused => "paused",
        }
    }
}

#[derive(Default)]
struct Lane {
    /// (from_ms, state), in time order.
    changes: Vec<(u64, LaneState)>,
    /// The role the node itself last reported (shown again when a pause ends).
    role: Option<LaneState>,
    commits_ms: Vec<u64>,
    refusals_ms: Vec<u64>,
}

/// The page for `report` and its trace `records`.
pub fn render(report: &Report, records: &[TraceRecord]) -> String {
    let end_ms = records
        .last()
        .map_or(1, |record| record.at_ms)
        .max(report.sim_time_ms)
        .max(1);
    let (lanes, spans) = collect(records, end_ms);
    let x = |at_ms: u64| LABEL_PX + (at_ms as f64 / end_ms as f64) * (WIDTH_PX - LABEL_PX);
    let height = 40.0 + LANE_PX * lanes.len() as f64 + 30.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_PX}" height="{height}">"#
    );
    for (from_ms, to_ms, label) in &spans {
        let (left, right) = (x(*from_ms), x(*to_ms));
        let _ = write!(
            svg,
            r##"<rect x="{left:.1}" y="20" width="{:.1}" height="{:.1}" fill="#ff8787" opacity="0.25"><title>{label} {from_ms}–{to_ms} ms</title></rect>"##,
            (right - left).max(1.0),
            LANE_PX * lanes.len() as f64
        );
    }
    for (row, (name, lane)) in lanes.iter().enumerate() {
        let top = 20.0 + LANE_PX * row as f64;
        let _ = write!(
            svg,
            r#"<text x="4" y="{:.1}" font-size="13">{}</text>"#,
            top + 18.0,
            escape(name)
        );
        draw_lane(&mut svg, lane, top, end_ms, &x);
    }
    let axis_y = 20.0 + LANE_PX * lanes.len() as f64 + 18.0;
    for tick in 0..=10u64 {
        let at_ms = end_ms * tick / 10;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{axis_y:.1}" font-size="11">{:.1}s</text>"#,
            x(at_ms) - 8.0,
            at_ms as f64 / 1000.0
        );
    }
    svg.push_str("</svg>");
    page(report, &svg)
}

fn draw_lane(svg: &mut String, lane: &Lane, top: f64, end_ms: u64, x: &dyn Fn(u64) -> f64) {
    for (index, (from_ms, state)) in lane.changes.iter().enumerate() {
        let to_ms = lane.changes.get(index + 1).map_or(end_ms, |(at, _)| *at);
        let (left, right) = (x(*from_ms), x(to_ms));
        let _ = write!(
            svg,
            r#"<rect x="{left:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {from_ms}–{to_ms} ms</title></rect>"#,
            top + 4.0,
            (right - left).max(0.5),
            LANE_PX - 8.0,
            state.colour(),
            state.label()
        );
    }
    for at_ms in &lane.commits_ms {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}" stroke="#1c1c1c" stroke-width="0.6"/>"##,
            x(*at_ms),
            top + LANE_PX - 9.0,
            top + LANE_PX - 4.0
        );
    }
    for at_ms in &lane.refusals_ms {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}" stroke="#e03131" stroke-width="1.2"><title>refusal at {3} ms</title></line>"##,
            x(*at_ms),
            top + 2.0,
            top + 9.0,
            at_ms
        );
    }
}

/// A link fault shown across every lane: (from_ms, to_ms, label).
type Span = (u64, u64, String);

/// Lanes by node name, and link-fault spans.
fn collect(records: &[TraceRecord], end_ms: u64) -> (BTreeMap<String, Lane>, Vec<Span>) {
    let mut lanes: BTreeMap<String, Lane> = BTreeMap::new();
    let mut spans = Vec::new();
    let mut open_spans: Vec<(u64, String)> = Vec::new();
    for record in records {
        match &record.kind {
            TraceKind::Start { .. } => set_role(&mut lanes, &record.node, record.at_ms, LaneState::Follower),
            TraceKind::Event { event } => on_event(&mut lanes, record, event),
            TraceKind::Fault { fault } => {
                on_fault(&mut lanes, &mut spans, &mut open_spans, record.at_ms, fault);
            }
            TraceKind::StartRefused { .. } => set_role(&mut lanes, &record.node, record.at_ms, LaneState::Down),
            TraceKind::UnsyncedWritesLost { .. } | TraceKind::Operator { .. } => {}
        }
    }
    spans.extend(open_spans.into_iter().map(|(from_ms, label)| (from_ms, end_ms, label)));
    (lanes, spans)
}

fn on_event(lanes: &mut BTreeMap<String, Lane>, record: &TraceRecord, event: &Event) {
    let lane = lanes.entry(record.node.clone()).or_default();
    match event {
        Event::Consensus(ConsensusEvent::RoleChanged { role, .. }) => {
            let state = match role {
                RoleKind::Leader => LaneState::Leader,
                RoleKind::Candidate | RoleKind::PreCandidate => LaneState::Candidate,
                RoleKind::Follower => LaneState::Follower,
            };
            set_role(lanes, &record.node, record.at_ms, state);
        }
        Event::Consensus(ConsensusEvent::ProposalCommitted { .. }) => lane.commits_ms.push(record.at_ms),
        Event::Refused { .. } => lane.refusals_ms.push(record.at_ms),
        _ => {}
    }
}

fn on_fault(
    lanes: &mut BTreeMap<String, Lane>,
    spans: &mut Vec<Span>,
    open_spans: &mut Vec<(u64, String)>,
    at_ms: u64,
    fault: &Fault,
) {
    match fault {
        Fault::Kill { node } => set(lanes, node, at_ms, LaneState::Down),
        Fault::Pause { node } => set(lanes, node, at_ms, LaneState::Paused),
        Fault::Resume { node } => {
            let role = lanes
                .get(node)
                .and_then(|lane| lane.role)
                .unwrap_or(LaneState::Follower);
            set(lanes, node, at_ms, role);
        }
        Fault::Isolate { node } => open_spans.push((at_ms, format!("isolate {node}"))),
        Fault::Partition { minority } => open_spans.push((at_ms, format!("partition {}", minority.join(",")))),
        Fault::Bridge { node, .. } => open_spans.push((at_ms, format!("bridge via {node}"))),
        Fault::Clog { from, to } => open_spans.push((at_ms, format!("clog {from}→{to}"))),
        Fault::Heal => spans.extend(open_spans.drain(..).map(|(from_ms, label)| (from_ms, at_ms, label))),
        Fault::Reconnect { node } => {
            let label = format!("isolate {node}");
            if let Some(position) = open_spans.iter().position(|(_, open)| *open == label) {
                let (from_ms, label) = open_spans.remove(position);
                spans.push((from_ms, at_ms, label));
            }
        }
        _ => {}
    }
}

fn set_role(lanes: &mut BTreeMap<String, Lane>, node: &str, at_ms: u64, role: LaneState) {
    lanes.entry(node.to_owned()).or_default().role = Some(role);
    set(lanes, node, at_ms, role);
}

fn set(lanes: &mut BTreeMap<String, Lane>, node: &str, at_ms: u64, state: LaneState) {
    let lane = lanes.entry(node.to_owned()).or_default();
    if lane.changes.last().map(|(_, last)| *last) != Some(state) {
        lane.changes.push((at_ms, state));
    }
}

fn page(report: &Report, svg: &str) -> String {
    let outcome = serde_json::to_value(report.outcome).unwrap_or_default();
    let violations: String = report
        .violations
        .iter()
        .map(|violation| {
            format!(
                "<li>{}</li>",
                escape(&serde_json::to_string(violation).unwrap_or_default())
            )
        })
        .collect();
    let legend: String = [
        LaneState::Leader,
        LaneState::Follower,
        LaneState::Candidate,
        LaneState::Paused,
        LaneState::Down,
    ]
    .iter()
    .map(|state| {
        format!(
            r#"<span style="background:{};padding:0 8px;margin-right:6px">{}</span>"#,
            state.colour(),
            state.label()
        )
    })
    .collect();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{scenario} seed {seed}</title></head>\
         <body style=\"font-family:sans-serif\"><h2>{scenario}, seed {seed}: {outcome}</h2>\
         <p>{legend}<span style=\"background:#ff8787;opacity:.5;padding:0 8px\">link fault</span> \
         black ticks: acknowledged commits; red ticks: refusals</p>{svg}<ul>{violations}</ul>\
         <p><code>{reproduce}</code></p></body></html>\n",
        scenario = escape(&report.scenario),
        seed = report.seed,
        outcome = outcome.as_str().unwrap_or_default(),
        reproduce = escape(&report.reproduce_command()),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use psionic_core::{NodeEpoch, NodeId};

    use super::*;
    use crate::report::Outcome;

    fn record(at_ms: u64, node: &str, kind: TraceKind) -> TraceRecord {
        TraceRecord {
            at_ms,
            node: node.to_owned(),
            kind,
        }
    }

    #[test]
    fn lanes_show_roles_faults_and_a_pause_that_keeps_the_role() {
        let records = [
            record(
                0,
                "n1",
                TraceKind::Start {
                    node_id: NodeId([1; 16]),
                    epoch: NodeEpoch(1),
                },
            ),
            record(
                500,
                "n1",
                TraceKind::Event {
                    event: Event::Consensus(ConsensusEvent::RoleChanged {
                        term: 2,
                        role: RoleKind::Leader,
                    }),
                },
            ),
            record(
                1_000,
                "harness",
                TraceKind::Fault {
                    fault: Fault::Isolate { node: "n1".into() },
                },
            ),
            record(2_000, "harness", TraceKind::Fault { fault: Fault::Heal }),
            record(
                2_500,
                "harness",
                TraceKind::Fault {
                    fault: Fault::Pause { node: "n1".into() },
                },
            ),
            record(
                3_000,
                "harness",
                TraceKind::Fault {
                    fault: Fault::Resume { node: "n1".into() },
                },
            ),
            record(
                4_000,
                "harness",
                TraceKind::Fault {
                    fault: Fault::Kill { node: "n1".into() },
                },
            ),
        ];
        let report = Report {
            scenario: "t".into(),
            seed: 1,
            outcome: Outcome::Pass,
            digest: String::new(),
            sim_time_ms: 5_000,
            nodes: 1,
            mutation: None,
            violations: Vec::new(),
            faults: 5,
            frames_sent: Default::default(),
            reached: Vec::new(),
            failover_ms: Vec::new(),
            proposals_committed: None,
            proposals_lost: None,
            requests: None,
            links: None,
        };
        let page = render(&report, &records);
        for title in [
            "follower 0–500 ms",
            "leader 500–2500 ms",
            "paused 2500–3000 ms",
            "leader 3000–4000 ms",
            "down 4000–5000 ms",
            "isolate n1 1000–2000 ms",
        ] {
            assert!(page.contains(&format!("<title>{title}</title>")), "{title} missing");
        }
        assert!(
            !page.contains("<text x=\"4\" y=\"58.0\""),
            "one lane only: the harness has none"
        );
    }
}

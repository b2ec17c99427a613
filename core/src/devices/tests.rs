use super::*;
use crate::backend::{HeartbeatReport, LinkTelemetry, Telemetry};

fn id(byte: u8) -> NodeId {
    NodeId([byte; 16])
}

#[test]
fn the_leader_plans_with_the_worse_of_both_ends_link_measurements() {
    let mut leader = Devices::new(id(1));
    let link = |rtt_us, bandwidth_mbps| LinkTelemetry { rtt_us, bandwidth_mbps };
    let report = |links: Vec<(NodeId, LinkTelemetry)>| HeartbeatReport {
        telemetry: Some(Telemetry {
            links: links.into_iter().collect(),
            ..Telemetry::default()
        }),
        readiness_claim: None,
    };
    let planned = |leader: &Devices| leader.links_measured().get(&(id(2), id(3))).copied();
    leader.on_report(Instant::ZERO, id(2), report(vec![(id(3), link(300, Some(1_000)))]));
    assert_eq!(planned(&leader), Some(link(300, Some(1_000))));
    leader.on_report(Instant::ZERO, id(3), report(vec![(id(2), link(500, None))]));
    assert_eq!(
        planned(&leader),
        Some(link(500, Some(1_000))),
        "slower round trip, known bandwidth"
    );
    leader.on_report(Instant::ZERO, id(3), report(vec![(id(2), link(200, Some(800)))]));
    assert_eq!(planned(&leader), Some(link(300, Some(800))));
    leader.on_report(Instant::ZERO, id(2), report(Vec::new()));
    assert_eq!(
        planned(&leader),
        Some(link(200, Some(800))),
        "what the other end still reports"
    );
    leader.on_report(Instant::ZERO, id(3), report(Vec::new()));
    assert_eq!(planned(&leader), None, "a link neither end reports is not measured");
}

#[test]
fn a_follower_repeats_unchanged_telemetry_once_a_second_and_is_heard_in_between() {
    let at = Instant::from_millis;
    let mut follower = Devices::new(id(2));
    let sent = |follower: &mut Devices, term, ms| follower.report_for(at(ms), term, id(1), None).telemetry;
    assert!(sent(&mut follower, 1, 0).is_some(), "first report");
    assert!(sent(&mut follower, 1, 100).is_none(), "unchanged");
    follower.set_queue_depth(at(150), 3);
    assert_eq!(
        sent(&mut follower, 1, 200).map(|telemetry| telemetry.queue_depth),
        Some(3)
    );
    assert!(sent(&mut follower, 1, 300).is_none());
    assert!(sent(&mut follower, 1, 1_200).is_some(), "refreshed after a second");
    assert!(sent(&mut follower, 2, 1_300).is_some(), "a new term");
    assert!(
        follower.report_for(at(1_400), 2, id(3), None).telemetry.is_some(),
        "another leader"
    );

    let mut leader = Devices::new(id(1));
    let mut first = follower.report_for(at(5_000), 2, id(1), None);
    first.telemetry.as_mut().unwrap().queue_depth = 7;
    leader.on_report(at(5_000), id(2), first);
    let quiet = follower.report_for(at(5_100), 2, id(1), None);
    assert!(quiet.telemetry.is_none());
    leader.on_report(at(5_100), id(2), quiet);
    let seen = &leader.telemetry()[&id(2)];
    assert_eq!((seen.telemetry.queue_depth, seen.at), (7, at(5_100)), "kept, heard now");
}

#[test]
fn a_follower_claims_readiness_only_while_the_state_records_another() {
    use crate::backend::{Backend, BackendReadiness, DeviceReport};
    let mut follower = Devices::new(id(2));
    let cpu: ReadinessByBackend = [(
        Backend::Cpu,
        BackendReadiness::Refused {
            reason: crate::backend::BackendRefusal::NoDriver,
        },
    )]
    .into_iter()
    .collect();
    follower.report(
        Instant::ZERO,
        DeviceReport {
            readiness: cpu.clone(),
            telemetry: Telemetry::default(),
        },
    );
    let claimed = follower.report_for(Instant::ZERO, 1, id(1), None).readiness_claim;
    assert!(claimed.is_some(), "nothing recorded yet");
    let recorded = follower.local_readiness().clone();
    let claimed = follower
        .report_for(Instant::ZERO, 1, id(1), Some(&recorded))
        .readiness_claim;
    assert_eq!(claimed, None, "the state records what it claims");
}

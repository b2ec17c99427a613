//! Inference requests on a real node: placed, dispatched, run by the reference
//! executor, answered with signed evidence that `verify-evidence` checks offline.
//!
//! proves: F9, F8
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_core::backend::{Backend, Lane, ProfileShortfall};
use psionic_core::consensus::ProposalRejection;
use psionic_core::dispatch::{CancelRefusal, PlanRequest, RequestOutcome, RequestRefusal, SubmitRefusal};
use psionic_core::plan::{
    BackendIneligible, ExecutionTopologyPlan, Ineligible, PlacementRefusal, RequestNeeds, SignedEvidence,
};
use psionic_core::state::{ApplyRefusal, ClusterCommand, Residency, ServingPolicy, ServingPolicyProblem};
use psionic_core::{Digest, NodeId};
use psionic_net::api::{
    self, AuthRefusal, CancelAnswer, Client, CommandAnswer, Failure, PlanAnswer, RequestAnswer, RequestBody,
    RequestFailure, RequestStatus, RequestStreamEvent, RequestView,
};
use psionic_tests::{
    NodeProcess, answered, failed, init_node_with_key, leader_in, node_cli, node_id, wait_until, write_token,
    write_voter_config,
};

const MODEL: &str = "1bbb359a3a13fa3ccdac3a469a16b364a1a88b5ae48c7ea37254dd22dc3c6ef9";
const REQUEST_ID: &str = "0123456789abcdef0123456789abcdef";

fn model() -> Digest {
    Digest(psionic_core::digest::from_hex::<32>(MODEL).expect("a digest"))
}

fn request(wait: bool) -> RequestBody {
    RequestBody {
        id: Some(REQUEST_ID.to_owned()),
        backends: vec![Backend::Cpu],
        wait,
        ..RequestBody::new(MODEL, "hello cluster", 12)
    }
}

/// A request without a token is refused 401 `missing-bearer`.
fn assert_missing_bearer((code, failure): (u16, Failure)) {
    let missing = matches!(
        failure,
        Failure::Unauthorized {
            reason: AuthRefusal::MissingBearer,
            ..
        }
    );
    assert!(missing && code == 401, "{code} {failure:?}");
}

/// The request a submission or lookup answered with.
fn view(answer: (u16, RequestAnswer)) -> RequestView {
    match answer {
        (200, RequestAnswer::Request(view)) => *view,
        (code, answer) => panic!("no request: {code} {answer:?}"),
    }
}

/// The executing node, tokens and evidence of a request that completed.
fn completed(view: &RequestView) -> (NodeId, &[u32], &SignedEvidence) {
    match &view.record.status {
        RequestStatus::Ended {
            outcome: RequestOutcome::Completed { node, tokens, evidence },
        } => (*node, tokens, evidence),
        status => panic!("not completed: {status:?}"),
    }
}

fn completed_mut(view: &mut RequestView) -> (&mut Vec<u32>, &mut SignedEvidence) {
    match &mut view.record.status {
        RequestStatus::Ended {
            outcome: RequestOutcome::Completed { tokens, evidence, .. },
        } => (tokens, evidence),
        status => panic!("not completed: {status:?}"),
    }
}

fn resident(node: NodeId, artifact: Digest) -> ClusterCommand {
    ClusterCommand::SetArtifactResidency {
        node,
        artifact,
        residency: Residency::Resident,
    }
}

fn verify(dir: &std::path::Path, answer: &RequestView, cluster_id: &str, key: &str, fence: u64) -> (i32, String) {
    verify_with(
        dir,
        answer,
        &[
            "--cluster-id",
            cluster_id,
            "--key",
            key,
            "--fence-at-least",
            &fence.to_string(),
        ],
    )
}

/// `verify-evidence` on `answer` with `trust` (and any other options).
fn verify_with(dir: &std::path::Path, answer: &RequestView, trust: &[&str]) -> (i32, String) {
    let file = dir.join("evidence.json");
    std::fs::write(&file, serde_json::to_string(answer).unwrap()).unwrap();
    let mut args = vec!["verify-evidence", file.to_str().unwrap()];
    args.extend_from_slice(trust);
    let (code, out, err) = node_cli(&args);
    (code, format!("{out}{err}"))
}

#[test]
fn a_request_runs_once_and_its_evidence_verifies_offline() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026\n");
    let (id, key) = init_node_with_key(&dir.path().join("n1"));
    let config = write_voter_config(dir.path(), "n1", &[], "token", std::slice::from_ref(&id));
    // Each step of the reference model takes 5 ms: a 4096-token request runs for 20 s.
    let mut text = std::fs::read_to_string(&config).unwrap();
    // The node holds the reference model of MODEL and reports it resident itself.
    text.push_str(&format!(
        "\n[executor]\nreference_step_ms = 5\nreference_models = [\"{MODEL}\"]\n"
    ));
    std::fs::write(&config, text).unwrap();
    let node = NodeProcess::start(&config).unwrap();
    wait_until(
        Duration::from_secs(20),
        "the node leads with its CPU and model reported",
        || {
            let state = node.state();
            let reported = state.report.members.first().is_some_and(|member| {
                member.backends.contains_key(&Backend::Cpu)
                    && member.artifacts.get(&model()) == Some(&Residency::Resident)
            });
            leader_in(&state).as_deref() == Some(id.as_str()) && reported
        },
    );
    let api = node.listening.operator_addr;
    let client = node.client();

    assert_missing_bearer(failed(Client::new(api).submit(&request(true))));
    // A model no node reports is placed nowhere, and no operator may claim it.
    let absent = Digest([0xcd; 32]);
    let elsewhere = RequestBody {
        model: absent.to_string(),
        ..request(true)
    };
    let (code, answer) = answered(client.submit(&elsewhere));
    assert_eq!(code, 503, "no node holds it: {answer:?}");
    let RequestAnswer::Failed(RequestFailure::Refused {
        refusal: SubmitRefusal::Placement(PlacementRefusal::NoEligibleNode { ineligible, .. }),
        ..
    }) = &answer
    else {
        panic!("{answer:?}");
    };
    assert_eq!(
        ineligible.get(&node_id(&id)),
        Some(&Ineligible::Artifact { residency: None })
    );

    let (_, answer) = answered(client.command(&resident(node_id(&id), absent)));
    let refusal = ApplyRefusal::ReportedByNode {
        node: node_id(&id),
        artifact: absent,
    };
    assert!(
        matches!(&answer, CommandAnswer::Rejected { reason: ProposalRejection::Invalid { refusal: found }, .. } if *found == refusal),
        "{answer:?}"
    );
    let whole = PlanRequest::WholeRequest(RequestNeeds {
        artifact: model(),
        backends: vec![Backend::Cpu],
        device_memory_bytes: 0,
    });
    let (code, planned) = answered(Client::new(api).plan(&whole));
    let PlanAnswer::Placed { placement } = &planned else {
        panic!("a dry run needs no token: {code} {planned:?}");
    };
    let ExecutionTopologyPlan::WholeRequest { selected, .. } = &placement.plan else {
        panic!("{planned:?}");
    };
    assert_eq!((code, selected.node), (200, node_id(&id)));
    let layers: PlanRequest = serde_json::from_str(&format!(
        r#"{{ "layer-sharded": {{ "artifact": "{MODEL}", "backends": ["cpu"], "shards": 1, "layers": 4,
        "bytes_per_layer": 1, "kv_bytes_per_token_per_layer": 1, "activation_bytes_per_token": 1,
        "links": {{ "class_worst": "lan", "rtt_us_max": null, "bandwidth_mbps_min": null }} }} }}"#
    ))
    .unwrap();
    let (code, planned) = answered(Client::new(api).plan(&layers));
    assert_eq!(code, 503, "the reference executor runs no sharded lane: {planned:?}");
    let PlanAnswer::Refused {
        refusal: PlacementRefusal::NoShardGroup { ineligible, .. },
        ..
    } = &planned
    else {
        panic!("{planned:?}");
    };
    let Some(Ineligible::Backends { refused }) = ineligible.get(&node_id(&id)) else {
        panic!("{planned:?}");
    };
    let Some(BackendIneligible::Profile { shortfall }) = refused.get(&Backend::Cpu) else {
        panic!("{planned:?}");
    };
    assert!(
        matches!(
            shortfall,
            ProfileShortfall::Lane {
                lane: Lane::LayerSharded
            }
        ),
        "{planned:?}"
    );

    let answer = view(answered(client.submit(&request(true))));
    let (executor, tokens, evidence) = completed(&answer);
    assert_eq!((tokens.len(), executor), (12, node_id(&id)), "{answer:?}");
    let Some(ExecutionTopologyPlan::WholeRequest { selected, .. }) = answer.record.placement.as_ref().map(|p| &p.plan)
    else {
        panic!("{answer:?}");
    };
    assert_eq!(selected.backend, Backend::Cpu);
    let looked_up = view(answered(client.request(REQUEST_ID)));
    assert_eq!(looked_up.record, answer.record);

    let cluster_id = node.status().cluster_id.to_string();
    let fence = evidence.context.authority.fence.0;
    let (code, out) = verify(dir.path(), &answer, &cluster_id, &key, fence);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("verified  request {REQUEST_ID}")), "{out}");
    // Who set the facts the plan used, signed with the rest: the node reported its
    // own residency and readiness.
    let residency = format!("set by    residency/{id}/{MODEL}: member {id} (its own report)");
    assert!(out.contains(&residency), "{out}");
    let readiness = format!("set by    readiness/{id}/cpu: member {id} (its own report)");
    assert!(out.contains(&readiness), "{out}");
    assert!(
        out.contains(&format!("device    {id} cpu\n")),
        "the device it ran on: {out}"
    );
    let mut reattributed = answer.clone();
    let fact = format!("residency/{id}/{MODEL}");
    completed_mut(&mut reattributed)
        .1
        .context
        .provenance
        .set_by
        .get_mut(&fact)
        .unwrap()
        .index = 1;
    let (code, out) = verify(dir.path(), &reattributed, &cluster_id, &key, fence);
    assert_eq!(code, 6, "a setter edited after signing: {out}");
    let (code, out) = verify(dir.path(), &answer, &cluster_id, &key, fence + 1);
    assert_eq!(code, 6, "a newer fence is current: the coordinator was deposed: {out}");
    assert!(out.contains("fence"), "{out}");
    let mut tampered = answer.clone();
    completed_mut(&mut tampered).1.context.provenance.applied_index = 999;
    let (code, out) = verify(dir.path(), &tampered, &cluster_id, &key, fence);
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("signature"), "{out}");
    let mut edited = answer.clone();
    completed_mut(&mut edited).0[0] = 0;
    let (code, out) = verify(dir.path(), &edited, &cluster_id, &key, fence);
    assert_eq!(code, 6, "tokens edited after signing: {out}");
    assert!(out.contains("tokens' digest"), "{out}");
    let fence_text = fence.to_string();
    let trust = [
        "--cluster-id",
        &cluster_id,
        "--key",
        &key,
        "--fence-at-least",
        &fence_text,
    ];
    let (code, out) = verify_with(
        dir.path(),
        &answer,
        &[&trust[..], &["--prompt", "hello cluster"]].concat(),
    );
    assert_eq!(code, 0, "the prompt the request was made with: {out}");
    let (code, out) = verify_with(
        dir.path(),
        &answer,
        &[&trust[..], &["--prompt", "hello world"]].concat(),
    );
    assert_eq!(code, 6, "another prompt: {out}");
    assert!(out.contains("prompt's digest"), "{out}");
    let (code, out) = verify_with(dir.path(), &answer, &trust);
    assert!(
        code == 0 && out.contains("elected   by a majority of 1 trusted voters (1 signed votes carried)"),
        "{out}"
    );
    let other_voters = [
        &trust[..],
        &["--voter", &id, "--voter", "00112233445566778899aabbccddeeff"],
    ]
    .concat();
    let (code, out) = verify_with(dir.path(), &answer, &other_voters);
    assert_eq!(code, 6, "one of two voters is no majority: {out}");
    assert!(
        out.contains("no proof of leadership") && out.contains("1 of 2 trusted voters"),
        "{out}"
    );

    let again = view(answered(client.submit(&request(true))));
    assert_eq!(
        completed(&again).2.context.result_digest,
        evidence.context.result_digest,
        "a repeated id is answered with its first result"
    );
    let (code, answer) = answered(client.request("00000000000000000000000000000000"));
    assert_eq!(
        (code, answer),
        (404, RequestAnswer::Failed(RequestFailure::UnknownRequest))
    );
    let (code, answer) = answered(client.cancel("00000000000000000000000000000000"));
    assert!(
        code == 404
            && matches!(
                answer,
                CancelAnswer::Refused {
                    refusal: CancelRefusal::NotInFlight { .. },
                    ..
                }
            ),
        "{code} {answer:?}"
    );

    // A long request (20 s of steps), cancelled at once: it ends cancelled, at once.
    let long_id = "fedcba9876543210fedcba9876543210";
    let long = RequestBody {
        id: Some(long_id.to_owned()),
        backends: vec![Backend::Cpu],
        ..RequestBody::new(MODEL, "a long answer", 4096)
    };
    let placed = view(answered(client.submit(&long)));
    assert_eq!(placed.record.status, RequestStatus::Running, "{placed:?}");
    let (code, cancelled) = answered(client.cancel(long_id));
    assert_eq!((code, cancelled), (200, CancelAnswer::Cancelled));
    let status = || view(answered(client.request(long_id))).record.status;
    wait_until(Duration::from_secs(5), "the long request ended", || {
        matches!(status(), RequestStatus::Ended { .. })
    });
    let RequestStatus::Ended {
        outcome: RequestOutcome::Refused { refusal },
    } = status()
    else {
        panic!("not refused: {:?}", status());
    };
    assert_eq!(refusal, RequestRefusal::Cancelled);
}

#[test]
fn the_serving_policy_is_set_over_http_and_shown_in_the_state() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026\n");
    let (id, _) = init_node_with_key(&dir.path().join("n1"));
    let config = write_voter_config(dir.path(), "n1", &[], "token", std::slice::from_ref(&id));
    let node = NodeProcess::start(&config).unwrap();
    wait_until(Duration::from_secs(20), "the node leads", || {
        leader_in(&node.state()).as_deref() == Some(id.as_str())
    });
    let api = node.listening.operator_addr;
    let policy = || node.state().report.serving_policy;
    assert!(policy().reroute_lost, "the defaults before any is set");

    let wanted = ServingPolicy {
        reroute_lost: false,
        lost_wait_ms: 5_000,
        ..ServingPolicy::default()
    };
    assert_missing_bearer(failed(Client::new(api).set_serving_policy(&wanted)));
    let unknown_field = node.client().call::<CommandAnswer>(
        api::Method::PUT,
        api::SERVING_POLICY,
        Some(br#"{ "reroute_los": false }"#),
    );
    let (code, failure) = failed(unknown_field);
    assert!(
        code == 422 && matches!(failure, Failure::Body(api::BodyRefusal::WrongShape { .. })),
        "an unknown field is refused: {code} {failure:?}"
    );
    let unservable = ServingPolicy {
        queue_depth_max: 0,
        ..ServingPolicy::default()
    };
    let (code, answer) = answered(node.client().set_serving_policy(&unservable));
    let CommandAnswer::Rejected {
        reason: ProposalRejection::Invalid {
            refusal: ApplyRefusal::ServingPolicy { problem },
        },
        ..
    } = &answer
    else {
        panic!("{code} {answer:?}");
    };
    assert_eq!(
        (code, *problem),
        (422, ServingPolicyProblem::NoQueue),
        "a queue of 0 is refused"
    );
    let (code, answer) = answered(node.client().set_serving_policy(&wanted));
    assert!(
        code == 200 && matches!(answer, CommandAnswer::Committed { .. }),
        "{answer:?}"
    );
    wait_until(Duration::from_secs(5), "the state shows the policy", || {
        let shown = policy();
        !shown.reroute_lost && shown.lost_wait_ms == 5_000
    });
    assert_eq!(policy().queue_depth_max, 64, "fields left out keep their defaults");
}

/// Any node takes a request: a follower forwards it to the leader, which places and
/// follows it; the follower answers with the outcome and the leader's evidence.
#[test]
fn a_request_sent_to_a_follower_is_placed_by_the_leader_and_answered_there() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = psionic_tests::cluster::Cluster::three_voters_holding(dir.path(), &[model()]);
    let leader = cluster.await_leader();
    let follower = cluster.node((leader + 1) % 3);
    cluster.serve_everywhere((leader + 1) % 3, model());
    let ids: Vec<NodeId> = cluster.ids.iter().map(|id| node_id(id)).collect();
    let answer = view(answered(follower.client().submit(&request(true))));
    let (executor, _, evidence) = completed(&answer);
    assert_eq!(evidence.context.authority.leader, ids[leader], "{answer:?}");
    assert!(ids.contains(&executor), "{answer:?}");
    let again = view(answered(follower.client().request(REQUEST_ID)));
    assert_eq!(again.request, answer.request, "the follower remembers it");
}

/// A streaming request answers server-sent events: `placed`, then the tokens as the
/// executing node produces them (through the leader, to the follower that took it),
/// then `ended` with the record; each batch is the final tokens at its offset.
#[test]
fn a_streaming_request_sent_to_a_follower_streams_its_tokens_as_they_are_produced() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = psionic_tests::cluster::Cluster::three_voters_holding(dir.path(), &[model()]);
    let leader = cluster.await_leader();
    let follower = cluster.node((leader + 1) % 3);
    cluster.serve_everywhere((leader + 1) % 3, model());
    let body = RequestBody {
        stream: true,
        max_tokens: 64,
        ..request(false)
    };
    let api::Streamed::Events(events) = follower.client().submit_streaming(&body).unwrap() else {
        panic!("not taken");
    };
    let events: Vec<RequestStreamEvent> = events.map(Result::unwrap).collect();
    let Some(RequestStreamEvent::Placed { request, .. }) = events.first() else {
        panic!("placed first: {events:?}");
    };
    assert_eq!(request.to_string(), REQUEST_ID);
    let Some(RequestStreamEvent::Ended(ended)) = events.last() else {
        panic!("ended last: {events:?}");
    };
    let (_, tokens, _) = completed(ended);
    assert_eq!(tokens.len(), 64);
    let batches: Vec<(u32, &Vec<u32>)> = events
        .iter()
        .filter_map(|event| match event {
            RequestStreamEvent::Tokens { offset, tokens, .. } => Some((*offset, tokens)),
            _ => None,
        })
        .collect();
    assert!(!batches.is_empty(), "tokens streamed before the end: {events:?}");
    for (offset, batch) in &batches {
        let at = *offset as usize;
        assert_eq!(&tokens[at..at + batch.len()], &batch[..], "batch at {offset}");
    }
    let looked_up = view(answered(follower.client().request(REQUEST_ID)));
    assert_eq!(looked_up.record, ended.record, "recorded as any request");
}

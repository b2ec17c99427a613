//! Inference requests on a real node: placed, dispatched, run by the reference
//! executor, answered with signed evidence that `verify-evidence` checks offline.
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_tests::{
    NodeProcess, OPERATOR_TOKEN, http_get, http_get_json, http_post_json, http_post_json_as, http_put_json_as,
    init_node_with_key, node_cli, wait_until, write_token, write_voter_config,
};
use serde_json::{Value, json};

const MODEL: &str = "1bbb359a3a13fa3ccdac3a469a16b364a1a88b5ae48c7ea37254dd22dc3c6ef9";
const REQUEST_ID: &str = "0123456789abcdef0123456789abcdef";

fn request(wait: bool) -> Value {
    json!({
        "id": REQUEST_ID,
        "model": MODEL,
        "backends": ["cpu"],
        "prompt": "hello cluster",
        "max_tokens": 12,
        "wait": wait,
    })
}

fn verify(dir: &std::path::Path, answer: &Value, cluster_id: &str, key: &str, fence: u64) -> (i32, String) {
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
fn verify_with(dir: &std::path::Path, answer: &Value, trust: &[&str]) -> (i32, String) {
    let file = dir.join("evidence.json");
    std::fs::write(&file, answer.to_string()).unwrap();
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
    text.push_str("\n[executor]\nreference_step_ms = 5\n");
    std::fs::write(&config, text).unwrap();
    let node = NodeProcess::start(&config).unwrap();
    wait_until(Duration::from_secs(20), "the node leads with its CPU declared", || {
        let state = node.state();
        state["coordinator"]["leader"] == id.as_str() && state["members"][0]["backends"]["cpu"].is_object()
    });
    let api = node.listening.operator_addr;

    let (code, answer) = http_post_json_as(api, "/v1/requests", &request(true), None);
    assert_eq!(
        (code, answer["reason"].as_str()),
        (401, Some("missing-bearer")),
        "{answer}"
    );
    let (code, answer) = http_post_json(api, "/v1/requests", &request(true));
    assert_eq!(code, 503, "the model is not resident yet: {answer}");
    let reason = &answer["refusal"]["placement"]["no-eligible-node"]["ineligible"][id.as_str()];
    assert_eq!(reason["artifact"]["residency"], Value::Null, "{answer}");

    let resident = json!({ "set-artifact-residency": { "node": id, "artifact": MODEL, "residency": "resident" } });
    let (code, answer) = http_post_json(api, "/v1/commands", &resident);
    assert_eq!(code, 200, "{answer}");
    let whole = json!({ "whole-request": { "artifact": MODEL, "backends": ["cpu"], "device_memory_bytes": 0 } });
    let (code, planned) = http_post_json_as(api, "/v1/plans", &whole, None);
    assert_eq!(code, 200, "a dry run needs no token: {planned}");
    assert_eq!(
        planned["placement"]["plan"]["whole-request"]["selected"]["node"],
        id.as_str()
    );
    let layers = json!({ "layer-sharded": { "artifact": MODEL, "backends": ["cpu"], "shards": 1, "layers": 4,
        "bytes_per_layer": 1, "kv_bytes_per_token_per_layer": 1, "activation_bytes_per_token": 1,
        "links": { "class_worst": "lan", "rtt_us_max": null, "bandwidth_mbps_min": null } } });
    let (code, planned) = http_post_json_as(api, "/v1/plans", &layers, None);
    assert_eq!(code, 503, "the reference executor runs no sharded lane: {planned}");
    let reason = &planned["refusal"]["no-shard-group"]["ineligible"][id.as_str()]["backends"]["refused"]["cpu"];
    assert_eq!(
        reason["profile"]["shortfall"]["lane"]["lane"], "layer-sharded",
        "{planned}"
    );

    let (code, answer) = http_post_json(api, "/v1/requests", &request(true));
    assert_eq!(code, 200, "{answer}");
    let record = &answer["record"];
    assert_eq!(record["status"], "ended", "{answer}");
    let completed = &record["outcome"]["completed"];
    assert_eq!(completed["tokens"].as_array().unwrap().len(), 12, "{answer}");
    assert_eq!(completed["node"], id.as_str());
    assert_eq!(
        record["placement"]["plan"]["whole-request"]["selected"]["backend"],
        "cpu"
    );
    let looked_up = http_get_json(api, &format!("/v1/requests/{REQUEST_ID}"));
    assert_eq!(looked_up["record"], *record);

    let cluster_id = node.status()["cluster_id"].as_str().unwrap().to_owned();
    let fence = completed["evidence"]["context"]["authority"]["fence"].as_u64().unwrap();
    let (code, out) = verify(dir.path(), &answer, &cluster_id, &key, fence);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("verified  request {REQUEST_ID}")), "{out}");
    // Who set the facts the plan used, signed with the rest: the operator made the
    // model resident, the node reported its own readiness.
    let residency = format!("set by    residency/{id}/{MODEL}: operator ");
    assert!(out.contains(&residency), "{out}");
    let readiness = format!("set by    readiness/{id}/cpu: member {id} (its own report)");
    assert!(out.contains(&readiness), "{out}");
    let mut reattributed = answer.clone();
    let set_by = &mut reattributed["record"]["outcome"]["completed"]["evidence"]["context"]["provenance"]["set_by"];
    let fact = format!("residency/{id}/{MODEL}");
    set_by[fact.as_str()]["index"] = json!(1);
    let (code, out) = verify(dir.path(), &reattributed, &cluster_id, &key, fence);
    assert_eq!(code, 6, "a setter edited after signing: {out}");
    let (code, out) = verify(dir.path(), &answer, &cluster_id, &key, fence + 1);
    assert_eq!(code, 6, "a newer fence is current: the coordinator was deposed: {out}");
    assert!(out.contains("fence"), "{out}");
    let mut tampered = answer.clone();
    tampered["record"]["outcome"]["completed"]["evidence"]["context"]["provenance"]["applied_index"] = json!(999);
    let (code, out) = verify(dir.path(), &tampered, &cluster_id, &key, fence);
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("signature"), "{out}");
    let mut edited = answer.clone();
    edited["record"]["outcome"]["completed"]["tokens"][0] = json!(0);
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

    let (code, again) = http_post_json(api, "/v1/requests", &request(true));
    assert_eq!(code, 200, "{again}");
    let result_digest =
        |answer: &Value| answer["record"]["outcome"]["completed"]["evidence"]["context"]["result_digest"].clone();
    assert_eq!(
        result_digest(&again),
        result_digest(&answer),
        "a repeated id is answered with its first result"
    );
    let (code, answer) = http_get(api, "/v1/requests/00000000000000000000000000000000");
    assert_eq!(code, 404, "{answer}");
    let unknown = "/v1/requests/00000000000000000000000000000000/cancel";
    let (code, answer) = http_post_json(api, unknown, &json!({}));
    assert_eq!(
        (code, answer["refusal"]["not-in-flight"].is_object()),
        (404, true),
        "{answer}"
    );

    // A long request (20 s of steps), cancelled at once: it ends cancelled, at once.
    let long = json!({ "id": "fedcba9876543210fedcba9876543210", "model": MODEL, "backends": ["cpu"],
        "prompt": "a long answer", "max_tokens": 4096 });
    let (code, answer) = http_post_json(api, "/v1/requests", &long);
    assert_eq!(code, 200, "{answer}");
    let (code, cancelled) = http_post_json(api, "/v1/requests/fedcba9876543210fedcba9876543210/cancel", &json!({}));
    assert_eq!(code, 200, "{cancelled}");
    let path = "/v1/requests/fedcba9876543210fedcba9876543210";
    wait_until(Duration::from_secs(5), "the long request ended", || {
        http_get_json(api, path)["record"]["status"] == "ended"
    });
    let outcome = http_get_json(api, path)["record"]["outcome"].clone();
    assert_eq!(outcome["refused"]["refusal"], "cancelled", "{outcome}");
}

#[test]
fn the_serving_policy_is_set_over_http_and_shown_in_the_state() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026\n");
    let (id, _) = init_node_with_key(&dir.path().join("n1"));
    let config = write_voter_config(dir.path(), "n1", &[], "token", std::slice::from_ref(&id));
    let node = NodeProcess::start(&config).unwrap();
    wait_until(Duration::from_secs(20), "the node leads", || {
        node.state()["coordinator"]["leader"] == id.as_str()
    });
    let api = node.listening.operator_addr;
    let policy = |state: &Value| state["serving_policy"].clone();
    assert_eq!(
        policy(&node.state())["reroute_lost"],
        true,
        "the defaults before any is set"
    );

    let wanted = json!({ "reroute_lost": false, "lost_wait_ms": 5_000 });
    let (code, answer) = http_put_json_as(api, "/v1/serving-policy", &wanted, None);
    assert_eq!(
        (code, answer["reason"].as_str()),
        (401, Some("missing-bearer")),
        "{answer}"
    );
    let (code, answer) = http_put_json_as(
        api,
        "/v1/serving-policy",
        &json!({ "reroute_los": false }),
        Some(OPERATOR_TOKEN),
    );
    assert_eq!(code, 422, "an unknown field is refused: {answer}");
    let unservable = json!({ "queue_depth_max": 0 });
    let (code, answer) = http_put_json_as(api, "/v1/serving-policy", &unservable, Some(OPERATOR_TOKEN));
    assert_eq!(code, 422, "a queue of 0 is refused: {answer}");
    assert_eq!(
        answer["reason"]["invalid"]["refusal"]["serving-policy"]["problem"], "no-queue",
        "{answer}"
    );
    let (code, answer) = http_put_json_as(api, "/v1/serving-policy", &wanted, Some(OPERATOR_TOKEN));
    assert_eq!((code, answer["outcome"].as_str()), (200, Some("committed")), "{answer}");
    wait_until(Duration::from_secs(5), "the state shows the policy", || {
        let shown = policy(&node.state());
        shown["reroute_lost"] == false && shown["lost_wait_ms"] == 5_000
    });
    assert_eq!(
        policy(&node.state())["queue_depth_max"],
        64,
        "fields left out keep their defaults"
    );
}

/// Any node takes a request: a follower forwards it to the leader, which places and
/// follows it; the follower answers with the outcome and the leader's evidence.
#[test]
fn a_request_sent_to_a_follower_is_placed_by_the_leader_and_answered_there() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = psionic_tests::cluster::Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    let follower = cluster.node((leader + 1) % 3).listening.operator_addr;
    wait_until(Duration::from_secs(20), "every node's CPU is declared", || {
        let state = http_get_json(follower, "/v1/state");
        let members = state["members"].as_array().cloned().unwrap_or_default();
        members.len() == 3 && members.iter().all(|member| member["backends"]["cpu"].is_object())
    });
    let ids: Vec<String> = (0..3)
        .map(|index| cluster.node(index).listening.node_id.clone())
        .collect();
    for id in &ids {
        let resident = json!({ "set-artifact-residency": { "node": id, "artifact": MODEL, "residency": "resident" } });
        let (code, answer) = http_post_json(follower, "/v1/commands", &resident);
        assert_eq!(code, 200, "{answer}");
    }
    let (code, answer) = http_post_json(follower, "/v1/requests", &request(true));
    assert_eq!(code, 200, "{answer}");
    let record = &answer["record"];
    assert_eq!(record["status"], "ended", "{answer}");
    let outcome = &record["outcome"]["completed"];
    let leader_id = &ids[leader];
    assert_eq!(
        outcome["evidence"]["context"]["authority"]["leader"],
        leader_id.as_str(),
        "{answer}"
    );
    assert!(
        ids.contains(&outcome["node"].as_str().unwrap_or_default().to_owned()),
        "{answer}"
    );
    let (code, again) = http_get(follower, &format!("/v1/requests/{REQUEST_ID}"));
    assert_eq!(code, 200, "the follower remembers it: {again}");
}

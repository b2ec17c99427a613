//! The operator API of a real single-voter node: mutations need the bearer token,
//! members and metrics tell the truth about what happened.
#![cfg(not(madsim))]

use psionic_tests::{
    OPERATOR_TOKEN, http_exchange, http_get, http_get_json, http_post_json_as, init_node, metric, node_cli,
    single_voter_leader, start_off_loopback, wait_until, write_token, write_voter_config,
};
use std::time::Duration;

use serde_json::json;

#[test]
fn commands_need_the_operator_token_and_the_metrics_count_them() {
    let dir = tempfile::tempdir().unwrap();
    let (id, node) = single_voter_leader(dir.path());
    let api = node.listening.operator_addr;

    let command = json!({ "set-policy": { "name": "placement", "document": [1, 2, 3] } });
    let (code, answer) = http_post_json_as(api, "/v1/commands", &command, None);
    assert_eq!(
        (code, answer["reason"].as_str()),
        (401, Some("missing-bearer")),
        "{answer}"
    );
    let (code, answer) = http_post_json_as(api, "/v1/commands", &command, Some("a guess at the token, 2026"));
    assert_eq!(
        (code, answer["reason"].as_str()),
        (401, Some("wrong-token")),
        "{answer}"
    );
    assert_eq!(node.state()["members"].as_array().unwrap().len(), 1);
    let (code, answer) = http_post_json_as(api, "/v1/commands", &command, Some(OPERATOR_TOKEN));
    assert_eq!((code, answer["outcome"].as_str()), (200, Some("committed")), "{answer}");
    let index = answer["index"].as_u64().unwrap();

    let members = http_get_json(api, "/v1/members");
    let members = members.as_array().unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0]["node_id"], id.as_str());
    assert_eq!(members[0]["this_node"], true);
    assert_eq!(members[0]["leader"], true);
    assert_eq!(members[0]["voter"], true);

    let (code, text) = http_get(api, "/metrics");
    assert_eq!(code, 200);
    assert!(metric(&text, "psionic_term ") >= 1.0);
    assert!(metric(&text, "psionic_commit_index ") >= index as f64);
    assert_eq!(metric(&text, "psionic_consensus_role "), 3.0, "leader");
    assert_eq!(metric(&text, "psionic_proposals_committed_total "), 1.0);
    assert_eq!(metric(&text, "psionic_proposal_latency_ms_count "), 1.0);
    assert_eq!(metric(&text, "psionic_proposal_latency_ms_bucket{le=\"+Inf\"} "), 1.0);
    assert_eq!(metric(&text, "psionic_leader_changes_total "), 1.0);
    assert!(metric(&text, "psionic_log_entries ") >= index as f64);
    assert_eq!(metric(&text, "psionic_refusals_total{kind=\"replay\"} "), 0.0);
}

#[test]
fn backend_readiness_is_committed_and_shown_with_telemetry() {
    let dir = tempfile::tempdir().unwrap();
    let (id, node) = single_voter_leader(dir.path());
    let api = node.listening.operator_addr;
    let (code, probed, err) = psionic_tests::node_cli(&["devices", "--json"]);
    assert_eq!(code, 0, "{err}");
    let probed: serde_json::Value = serde_json::from_str(&probed).unwrap();

    psionic_tests::wait_until(Duration::from_secs(10), "readiness committed", || {
        node.state()["members"][0]["backends"]["cpu"].is_object()
    });
    let state = node.state();
    let backends = &state["members"][0]["backends"];
    let cpu_profile = json!({ "lanes": ["whole-request", "replicated"], "communication": ["remote-dispatch"] });
    assert_eq!(
        backends["cpu"],
        json!({ "ready": { "devices": [], "profile": cpu_profile } }),
        "the reference executor's lanes: {state}"
    );
    match probed["cuda"].as_str() {
        Some("refused") => assert_eq!(backends["cuda"]["refused"]["reason"], probed["reason"], "{state}"),
        _ => {
            let devices = backends["cuda"]["ready"]["devices"].as_array().unwrap();
            assert_eq!(devices.len(), probed["inventory"]["devices"].as_array().unwrap().len());
        }
    }
    let members = http_get_json(api, "/v1/members");
    assert_eq!(members[0]["node_id"], id.as_str());
    assert_eq!(&members[0]["backends"], backends, "{members}");
    let telemetry = &members[0]["telemetry"];
    assert!(telemetry["free_memory_bytes"].is_array(), "{members}");
    assert!(telemetry["age_ms"].as_u64().unwrap() < 60_000, "{members}");
}

/// Bound off loopback, the API answers reads of the state, the members and requests
/// only to the operator token; status and metrics stay open to monitoring.
#[test]
fn off_loopback_reads_of_the_state_need_the_operator_token() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026\n");
    let id = init_node(&dir.path().join("n1"));
    let config = write_voter_config(dir.path(), "n1", &[], "token", std::slice::from_ref(&id));
    let (_node, api) = start_off_loopback(&config);
    for path in [
        "/v1/state",
        "/v1/members",
        "/v1/requests/0123456789abcdef0123456789abcdef",
    ] {
        let (code, answer) = http_get(api, path);
        assert_eq!(code, 401, "{path}: {answer}");
        assert!(answer.contains("missing-bearer"), "{path}: {answer}");
    }
    wait_until(Duration::from_secs(20), "the node leads", || {
        let request = format!(
            "GET /v1/state?consistency=serializable HTTP/1.1\r\nHost: psionic\r\nAuthorization: Bearer {OPERATOR_TOKEN}\r\nConnection: close\r\n\r\n"
        );
        let (code, answer) = http_exchange(api, &request);
        code == 200 && answer.contains(&id)
    });
    assert_eq!(http_get(api, "/v1/status").0, 200);
    assert_eq!(http_get(api, "/metrics").0, 200);
    let api = api.to_string();
    let (code, _, err) = node_cli(&["members", "--operator", &api]);
    assert_eq!(code, 6, "without the token: {err}");
    let token_file = dir.path().join("operator-token");
    let read_token = ["--read-token-file", token_file.to_str().unwrap()];
    for command in ["members", "candidates"] {
        let (code, out, err) = node_cli(&[&[command, "--operator", &api][..], &read_token[..]].concat());
        assert_eq!(code, 0, "{command} with the token: {out}{err}");
    }
}

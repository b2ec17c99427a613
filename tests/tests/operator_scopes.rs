//! Scoped operator credentials, set up and used as the runbook says: every guarded
//! route answers only a credential holding its scope (403 naming the scope
//! otherwise, 401 without a known token), and `POST /v1/commands` asks the scope of
//! the command it carries; the entry records the credential, shown in the state.
#![cfg(not(madsim))]

use std::net::SocketAddr;
use std::time::Duration;

use psionic_tests::runbook::{run_as_written, runbook_blocks};
use psionic_tests::{
    OPERATOR_TOKEN, http_exchange, init_node, json_request, start_off_loopback, wait_until, write_token,
    write_voter_config,
};
use serde_json::{Value, json};

const REQUEST: &str = "0123456789abcdef0123456789abcdef";

/// Every guarded route: method, path, body, and the scope it needs.
fn routes() -> Vec<(&'static str, String, Value, &'static str)> {
    let policy = json!({ "set-policy": { "name": "p", "document": [1] } });
    let admit = json!({ "admit-member": { "node": REQUEST, "role": "executor" } });
    let plan =
        json!({ "whole-request": { "artifact": "00".repeat(32), "backends": ["cpu"], "device_memory_bytes": 0 } });
    vec![
        ("GET", "/v1/state?consistency=serializable".into(), Value::Null, "read"),
        (
            "GET",
            "/v1/members?consistency=serializable".into(),
            Value::Null,
            "read",
        ),
        ("GET", "/v1/candidates".into(), Value::Null, "read"),
        ("GET", format!("/v1/requests/{REQUEST}"), Value::Null, "read"),
        ("POST", "/v1/plans".into(), plan, "read"),
        ("POST", "/v1/requests".into(), json!({}), "submit-requests"),
        (
            "POST",
            format!("/v1/requests/{REQUEST}/cancel"),
            Value::Null,
            "submit-requests",
        ),
        ("PUT", "/v1/serving-policy".into(), json!({}), "operate"),
        ("POST", "/v1/leadership/transfer".into(), json!({}), "operate"),
        ("POST", "/v1/commands".into(), policy, "operate"),
        ("POST", "/v1/commands".into(), admit, "admin"),
        ("POST", "/v1/node/key-rotation".into(), Value::Null, "admin"),
    ]
}

fn call(api: SocketAddr, (method, path, body): (&str, &str, &Value), token: Option<&str>) -> (u16, String) {
    http_exchange(api, &json_request(api, method, path, body, token))
}

#[test]
fn each_route_answers_only_credentials_holding_its_scope() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let blocks = runbook_blocks("## Give operators scoped credentials");
    let listed = run_as_written(dir, &blocks[0]);
    assert!(
        listed.contains("serving") && listed.contains("read, submit-requests"),
        "{listed}"
    );
    write_token(&dir.join("token"), "the lab's admission token, 2026\n");
    let id = init_node(&dir.join("n1"));
    let config = write_voter_config(dir, "n1", &[], "token", std::slice::from_ref(&id));
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "[trust]",
        "operator_credentials_file = \"credentials.toml\"\n\n[trust]",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let (_node, api) = start_off_loopback(&config);
    let token = |name: &str| {
        std::fs::read_to_string(dir.join(format!("{name}.token")))
            .unwrap()
            .trim()
            .to_owned()
    };
    wait_until(Duration::from_secs(20), "the node leads", || {
        let state = ("GET", "/v1/state?consistency=serializable", &Value::Null);
        let (code, answer) = call(api, state, Some(&token("ci-reader")));
        code == 200 && answer.contains(&format!("\"leader\":\"{id}\""))
    });

    let holders: [(&str, &[&str]); 4] = [
        ("ci-reader", &["read"]),
        ("serving", &["read", "submit-requests"]),
        ("platform", &["operate"]),
        ("operator-token", &["read", "submit-requests", "operate", "admin"]),
    ];
    for (method, path, body, needed) in routes() {
        let route = (method, path.as_str(), &body);
        let (code, answer) = call(api, route, None);
        assert_eq!(code, 401, "{method} {path} without a token: {answer}");
        let (code, answer) = call(api, route, Some("a token nobody holds, 2026"));
        assert_eq!(code, 401, "{method} {path} with an unknown token: {answer}");
        for (holder, scopes) in holders {
            let secret = if holder == "operator-token" {
                OPERATOR_TOKEN.to_owned()
            } else {
                token(holder)
            };
            let (code, answer) = call(api, route, Some(secret.trim()));
            if scopes.contains(&needed) {
                assert!(
                    ![401, 403].contains(&code),
                    "{holder} may {method} {path}: {code} {answer}"
                );
            } else {
                assert_eq!(code, 403, "{holder} may not {method} {path}: {answer}");
                let refusal: Value = serde_json::from_str(&answer).unwrap();
                let missing = &refusal["reason"]["missing-scope"];
                // A credential holding no command scope is refused before the body
                // is read, naming the least one.
                let no_command_scope = !scopes.iter().any(|scope| ["operate", "admin"].contains(scope));
                let named = if path == "/v1/commands" && no_command_scope {
                    "operate"
                } else {
                    needed
                };
                assert_eq!(
                    (&missing["credential"], &missing["needed"]),
                    (&json!(holder), &json!(named)),
                    "{answer}"
                );
            }
        }
    }

    let script = blocks[1].replace("127.0.0.1:7480", &api.to_string());
    let said = run_as_written(dir, &script);
    assert!(said.contains(&id) && said.contains("committed at index"), "{said}");
    let state = ("GET", "/v1/state", &Value::Null);
    let (_, answer) = call(api, state, Some(&token("ci-reader")));
    let state: Value = serde_json::from_str(&answer).unwrap();
    let set_by = &state["set_by"]["policy/p"];
    assert_eq!(
        set_by["origin"]["operator"],
        json!({ "credential": "platform", "scope": "operate", "policy": null }),
        "the entry records who set the policy, and that no authorization policy was in force: {answer}"
    );
    assert!(set_by["index"].as_u64().unwrap() > 0, "{answer}");

    // The cluster's policy grants platform nothing: its node-local operate scope no
    // longer gets a command committed.
    let said = run_as_written(dir, &blocks[2].replace("127.0.0.1:7480", &api.to_string()));
    assert!(said.contains("\"outcome\":\"committed\""), "{said}");
    let policy = json!({ "set-policy": { "name": "q", "document": [2] } });
    let (code, answer) = call(api, ("POST", "/v1/commands", &policy), Some(&token("platform")));
    assert_eq!(code, 422, "{answer}");
    let refusal: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        refusal["reason"]["invalid"]["refusal"]["not-authorized"]["needed"], "operate",
        "{answer}"
    );
    let (code, answer) = call(api, ("POST", "/v1/commands", &policy), Some(OPERATOR_TOKEN));
    assert_eq!(code, 200, "the policy grants the operator token: {answer}");
    // The entry records the authorization policy it was taken under.
    let read_state = ("GET", "/v1/state", &Value::Null);
    let (_, answer) = call(api, read_state, Some(&token("ci-reader")));
    let state: Value = serde_json::from_str(&answer).unwrap();
    let in_force = &state["policies"]["authorization"];
    assert!(in_force.is_string(), "{answer}");
    assert_eq!(
        state["set_by"]["policy/q"]["origin"]["operator"]["policy"], *in_force,
        "{answer}"
    );
}

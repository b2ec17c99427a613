//! Scoped operator credentials, set up and used as the runbook says: every guarded
//! route answers only a credential holding its scope (403 naming the scope
//! otherwise, 401 without a known token), and `POST /v1/commands` asks the scope of
//! the command it carries; the entry records the credential, shown in the state.
//!
//! proves: F11
#![cfg(not(madsim))]

use std::net::SocketAddr;
use std::time::Duration;

use psionic_core::backend::Backend;
use psionic_core::consensus::ProposalRejection;
use psionic_core::dispatch::PlanRequest;
use psionic_core::plan::RequestNeeds;
use psionic_core::state::{ApplyRefusal, ClusterCommand, Origin, Scope};
use psionic_core::{Digest, NodeRole};
use psionic_net::Consistency;
use psionic_net::api::{self, AuthRefusal, Client, CommandAnswer, Failure, Method, StateAnswer, StateRead};
use psionic_tests::runbook::{run_as_written, runbook_blocks};
use psionic_tests::{
    OPERATOR_TOKEN, answered, init_node, node_id, start_off_loopback, wait_until, write_token, write_voter_config,
};

const REQUEST: &str = "0123456789abcdef0123456789abcdef";

/// Every guarded route: method, path, body, and the scope it needs.
fn routes() -> Vec<(Method, String, Option<Vec<u8>>, Scope)> {
    let policy = ClusterCommand::SetPolicy {
        name: "p".to_owned(),
        document: vec![1],
    };
    let admit = ClusterCommand::AdmitMember {
        node: node_id(REQUEST),
        role: NodeRole::Executor,
        stream_addr: None,
    };
    let plan = PlanRequest::WholeRequest(RequestNeeds {
        artifact: Digest([0; 32]),
        backends: vec![Backend::Cpu],
        device_memory_bytes: 0,
    });
    let empty = || Some(b"{}".to_vec());
    let serializable = Consistency::Serializable;
    vec![
        (
            Method::GET,
            api::with_consistency(api::STATE, serializable),
            None,
            Scope::Read,
        ),
        (
            Method::GET,
            api::with_consistency(api::MEMBERS, serializable),
            None,
            Scope::Read,
        ),
        (Method::GET, api::CANDIDATES.into(), None, Scope::Read),
        (Method::GET, api::request_path(REQUEST), None, Scope::Read),
        (
            Method::POST,
            api::PLANS.into(),
            Some(serde_json::to_vec(&plan).unwrap()),
            Scope::Read,
        ),
        (Method::POST, api::REQUESTS.into(), empty(), Scope::SubmitRequests),
        (Method::POST, api::cancel_path(REQUEST), None, Scope::SubmitRequests),
        (Method::PUT, api::SERVING_POLICY.into(), empty(), Scope::Operate),
        (Method::POST, api::LEADERSHIP_TRANSFER.into(), empty(), Scope::Operate),
        (
            Method::POST,
            api::COMMANDS.into(),
            Some(serde_json::to_vec(&policy).unwrap()),
            Scope::Operate,
        ),
        (
            Method::POST,
            api::COMMANDS.into(),
            Some(serde_json::to_vec(&admit).unwrap()),
            Scope::Admin,
        ),
        (Method::POST, api::KEY_ROTATION.into(), None, Scope::Admin),
    ]
}

/// The status of `route` as `token`'s (none: no token), and the failure it answered
/// with, if any.
fn call(
    api: SocketAddr,
    (method, path, body): (&Method, &str, Option<&[u8]>),
    token: Option<&str>,
) -> (u16, Option<Failure>) {
    let client = match token {
        Some(token) => Client::new(api).with_bearer(token),
        None => Client::new(api),
    };
    let (code, body) = client.exchange(method.clone(), path, body).expect("an answer");
    (code, serde_json::from_str(&body).ok())
}

/// The state as `client` reads it.
fn state(client: &Client) -> StateRead {
    match answered(client.state(Consistency::Linearizable)) {
        (200, StateAnswer::Read(read)) => *read,
        (code, answer) => panic!("not read: {code} {answer:?}"),
    }
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
    let reader = Client::new(api).with_bearer(&token("ci-reader"));
    wait_until(Duration::from_secs(20), "the node leads", || {
        let read = reader
            .state(Consistency::Serializable)
            .ok()
            .and_then(|answer| answer.answer());
        matches!(read, Some(StateAnswer::Read(read)) if read.report.coordinator.leader == Some(node_id(&id)))
    });

    let holders: [(&str, &[Scope]); 4] = [
        ("ci-reader", &[Scope::Read]),
        ("serving", &[Scope::Read, Scope::SubmitRequests]),
        ("platform", &[Scope::Operate]),
        (
            "operator-token",
            &[Scope::Read, Scope::SubmitRequests, Scope::Operate, Scope::Admin],
        ),
    ];
    for (method, path, body, needed) in routes() {
        let route = (&method, path.as_str(), body.as_deref());
        let (code, answer) = call(api, route, None);
        assert_eq!(code, 401, "{method} {path} without a token: {answer:?}");
        let (code, answer) = call(api, route, Some("a token nobody holds, 2026"));
        assert_eq!(code, 401, "{method} {path} with an unknown token: {answer:?}");
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
                    "{holder} may {method} {path}: {code} {answer:?}"
                );
            } else {
                // A credential holding no command scope is refused before the body
                // is read, naming the least one.
                let no_command_scope = !scopes
                    .iter()
                    .any(|scope| [Scope::Operate, Scope::Admin].contains(scope));
                let named = if path == api::COMMANDS && no_command_scope {
                    Scope::Operate
                } else {
                    needed
                };
                let missing = AuthRefusal::MissingScope {
                    credential: holder.to_owned(),
                    needed: named,
                };
                let refused = Failure::Unauthorized {
                    message: missing.to_string(),
                    reason: missing,
                };
                assert_eq!((code, answer), (403, Some(refused)), "{holder} may not {method} {path}");
            }
        }
    }

    let script = blocks[1].replace("127.0.0.1:7480", &api.to_string());
    let said = run_as_written(dir, &script);
    assert!(said.contains(&id) && said.contains("committed at index"), "{said}");
    let set_by = state(&reader).report.set_by["policy/p"].clone();
    let platform = Origin::Operator {
        credential: "platform".to_owned(),
        scope: Scope::Operate,
        policy: None,
    };
    assert_eq!(
        set_by.origin, platform,
        "the entry records who set the policy, and that no authorization policy was in force"
    );
    assert!(set_by.index > 0, "{set_by:?}");

    // The cluster's policy grants platform nothing: its node-local operate scope no
    // longer gets a command committed.
    let said = run_as_written(dir, &blocks[2].replace("127.0.0.1:7480", &api.to_string()));
    assert!(said.contains("\"outcome\":\"committed\""), "{said}");
    let policy = ClusterCommand::SetPolicy {
        name: "q".to_owned(),
        document: vec![2],
    };
    let platform = Client::new(api).with_bearer(&token("platform"));
    let (code, answer) = answered(platform.command(&policy));
    let CommandAnswer::Rejected {
        reason: ProposalRejection::Invalid {
            refusal: ApplyRefusal::NotAuthorized { needed, .. },
        },
        ..
    } = answer
    else {
        panic!("{code} {answer:?}");
    };
    assert_eq!((code, needed), (422, Scope::Operate));
    let operator = Client::new(api).with_bearer(OPERATOR_TOKEN);
    let (code, answer) = answered(operator.command(&policy));
    assert_eq!(code, 200, "the policy grants the operator token: {answer:?}");
    // The entry records the authorization policy it was taken under.
    let state = state(&reader).report;
    let in_force = state.policies.get("authorization").copied();
    assert!(in_force.is_some(), "{state:?}");
    let Origin::Operator { policy, .. } = &state.set_by["policy/q"].origin else {
        panic!("{state:?}");
    };
    assert_eq!(*policy, in_force);
}

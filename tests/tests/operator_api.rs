//! The operator API of a real single-voter node: mutations need the bearer token,
//! members and metrics tell the truth about what happened.
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_core::backend::{Backend, BackendReadiness, CommunicationClass, ExecutionProfile, Lane};
use psionic_core::state::ClusterCommand;
use psionic_cuda::CudaReadiness;
use psionic_net::Consistency;
use psionic_net::api::{AuthRefusal, Client, CommandAnswer, Failure, MemberView, MembersAnswer, StateAnswer};
use psionic_tests::{
    answered, client, failed, init_node, metric, node_cli, node_id, single_voter_leader, start_off_loopback,
    wait_until, write_token, write_voter_config,
};

fn members(client: &Client) -> Vec<MemberView> {
    match answered(client.members(Consistency::Linearizable)) {
        (200, MembersAnswer::Members(members)) => members,
        (code, answer) => panic!("not read: {code} {answer:?}"),
    }
}

fn refused_for(answer: (u16, Failure)) -> (u16, Option<AuthRefusal>) {
    match answer {
        (code, Failure::Unauthorized { reason, .. }) => (code, Some(reason)),
        (code, _) => (code, None),
    }
}

#[test]
fn commands_need_the_operator_token_and_the_metrics_count_them() {
    let dir = tempfile::tempdir().unwrap();
    let (id, node) = single_voter_leader(dir.path());
    let api = node.listening.operator_addr;

    let command = ClusterCommand::SetPolicy {
        name: "placement".to_owned(),
        document: vec![1, 2, 3],
    };
    let answer = refused_for(failed(Client::new(api).command(&command)));
    assert_eq!(answer, (401, Some(AuthRefusal::MissingBearer)));
    let guess = Client::new(api).with_bearer("a guess at the token, 2026");
    assert_eq!(
        refused_for(failed(guess.command(&command))),
        (401, Some(AuthRefusal::WrongToken))
    );
    assert_eq!(node.state().report.members.len(), 1);
    let (code, answer) = answered(node.client().command(&command));
    let CommandAnswer::Committed { index, .. } = answer else {
        panic!("{code} {answer:?}");
    };

    let members = members(&node.client());
    assert_eq!(members.len(), 1, "{members:?}");
    let member = &members[0];
    assert_eq!(member.node_id, node_id(&id));
    assert!(member.this_node && member.leader && member.voter, "{member:?}");

    let (code, text) = node.client().metrics().unwrap();
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
    let (code, probed, err) = node_cli(&["devices", "--json"]);
    assert_eq!(code, 0, "{err}");
    let probed: CudaReadiness = serde_json::from_str(&probed).unwrap();

    wait_until(Duration::from_secs(10), "readiness committed", || {
        node.state().report.members[0].backends.contains_key(&Backend::Cpu)
    });
    let backends = node.state().report.members[0].backends.clone();
    let cpu = BackendReadiness::Ready {
        devices: Vec::new(),
        profile: ExecutionProfile {
            lanes: [Lane::WholeRequest, Lane::Replicated].into(),
            communication: [CommunicationClass::RemoteDispatch].into(),
        },
    };
    assert_eq!(
        backends.get(&Backend::Cpu),
        Some(&cpu),
        "the reference executor's lanes"
    );
    match (probed, backends.get(&Backend::Cuda)) {
        (CudaReadiness::Refused { reason }, recorded) => {
            assert_eq!(recorded, Some(&BackendReadiness::Refused { reason }));
        }
        (CudaReadiness::Ready { inventory }, Some(BackendReadiness::Ready { devices, .. })) => {
            assert_eq!(devices.len(), inventory.devices.len());
        }
        (probed, recorded) => panic!("probed {probed:?}, recorded {recorded:?}"),
    }
    let members = members(&node.client());
    assert_eq!(members[0].node_id, node_id(&id));
    assert_eq!(members[0].backends, backends, "{members:?}");
    let telemetry = members[0].telemetry.as_ref().expect("its own telemetry");
    assert!(telemetry.age_ms < 60_000, "{telemetry:?}");
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
    let anonymous = Client::new(api);
    let missing = (401, Some(AuthRefusal::MissingBearer));
    assert_eq!(refused_for(failed(anonymous.state(Consistency::Linearizable))), missing);
    assert_eq!(
        refused_for(failed(anonymous.members(Consistency::Linearizable))),
        missing
    );
    let request = anonymous.request("0123456789abcdef0123456789abcdef");
    assert_eq!(refused_for(failed(request)), missing);
    wait_until(Duration::from_secs(20), "the node leads", || {
        let state = client(api).state(Consistency::Serializable).unwrap();
        match (state.status, state.answer()) {
            (200, Some(StateAnswer::Read(read))) => read.report.coordinator.leader == Some(node_id(&id)),
            _ => false,
        }
    });
    assert_eq!(anonymous.status().unwrap().status, 200);
    assert_eq!(anonymous.metrics().unwrap().0, 200);
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

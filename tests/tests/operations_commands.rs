//! Commands as an operator sends them: one the state would refuse is refused at once
//! with its reason (and `submit` exits 6), one too large for a frame is refused naming
//! the limit, and one just under it replicates while the cluster keeps committing.
#![cfg(not(madsim))]

use psionic_core::Digest;
use psionic_core::consensus::ProposalRejection;
use psionic_core::limits::{ENTRY_BYTES_MAX, HTTP_BODY_BYTES_MAX};
use psionic_core::state::{ApplyRefusal, ClusterCommand, Residency};
use psionic_net::api::{BodyRefusal, CommandAnswer, Failure, Reply};
use psionic_tests::cluster::Cluster;
use psionic_tests::{answered, http_exchange, node_cli, node_id, state_of};

#[test]
fn a_command_the_state_would_refuse_is_refused_at_once_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::three_voters(dir.path());
    let leader = cluster.node(cluster.await_leader());
    let api = leader.listening.operator_addr;
    let stranger = "00112233445566778899aabbccddeeff";
    let residency = ClusterCommand::SetArtifactResidency {
        node: node_id(stranger),
        artifact: Digest([0xab; 32]),
        residency: Residency::STAGING_ASKED,
    };
    let (code, answer) = answered(leader.client().command(&residency));
    let CommandAnswer::Rejected {
        reason: ProposalRejection::Invalid {
            refusal: ApplyRefusal::NotAMember { node },
        },
        ..
    } = &answer
    else {
        panic!("{code} {answer:?}");
    };
    assert_eq!((code, *node), (422, node_id(stranger)));

    let token = dir.path().join("operator-token");
    let removal = serde_json::to_string(&ClusterCommand::RemoveMember {
        node: node_id(stranger),
    })
    .unwrap();
    let (code, stdout, _) = node_cli(&[
        "submit",
        "--operator",
        &api.to_string(),
        "--token-file",
        token.to_str().unwrap(),
        &removal,
    ]);
    assert_eq!(code, 6, "submit exits 6 when the node refuses: {stdout}");
    assert!(stdout.contains("not-a-member"), "{stdout}");
    cluster.assert_history_linearizable();
}

#[test]
fn a_command_too_large_for_a_frame_is_refused_naming_the_limit_and_the_cluster_keeps_committing() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::three_voters(dir.path());
    let leader_index = cluster.await_leader();
    let leader = cluster.node(leader_index);
    let api = leader.listening.operator_addr;
    let policy = |byte: u8, len: usize| ClusterCommand::SetPolicy {
        name: "big".to_owned(),
        document: vec![byte; len],
    };
    // 100 KiB of 255s is a 400 KiB body: over the HTTP limit.
    let answer = leader.client().command(&policy(255, 100 * 1024)).expect("an answer");
    let too_large = Reply::Failure(Failure::Body(BodyRefusal::TooLarge {
        limit_bytes: HTTP_BODY_BYTES_MAX,
    }));
    assert_eq!((answer.status, answer.reply), (413, too_large));
    // 100 KiB of zeros is a 200 KiB body: under it, but its entry would not fit a frame.
    let (code, answer) = answered(leader.client().command(&policy(0, 100 * 1024)));
    let CommandAnswer::Rejected {
        reason: ProposalRejection::TooLarge { limit, .. },
        ..
    } = answer
    else {
        panic!("{code} {answer:?}");
    };
    assert_eq!((code, limit), (413, ENTRY_BYTES_MAX));

    let (code, answer) = answered(leader.client().command(&policy(255, ENTRY_BYTES_MAX - 256)));
    assert!(
        code == 200 && matches!(answer, CommandAnswer::Committed { .. }),
        "{answer:?}"
    );
    let mut last = 0;
    for n in 0..5 {
        last = cluster.commit(leader_index, n);
    }
    cluster.await_converged(last);

    let body = "[".to_owned() + &"0,".repeat(HTTP_BODY_BYTES_MAX / 2) + "0]";
    let request = format!(
        "POST /v1/commands HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        psionic_tests::OPERATOR_TOKEN,
        body.len()
    );
    let (code, answer) = http_exchange(api, &request);
    assert_eq!(code, 413, "{answer}");
    assert!(
        answer.contains(&format!("\"limit_bytes\":{HTTP_BODY_BYTES_MAX}")),
        "{answer}"
    );
    cluster.assert_history_linearizable();
}

#[test]
fn the_token_is_checked_before_the_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (_, node) = psionic_tests::single_voter_leader(dir.path());
    let api = node.listening.operator_addr;
    let oversized = "x".repeat(HTTP_BODY_BYTES_MAX + 1);
    for (token, body, expected) in [
        (None, oversized.as_str(), 401),
        (Some("not the operator's token, at all"), "not json", 401),
        (Some(psionic_tests::OPERATOR_TOKEN), "not json", 400),
        (Some(psionic_tests::OPERATOR_TOKEN), oversized.as_str(), 413),
    ] {
        let authorization = token.map_or(String::new(), |token| format!("Authorization: Bearer {token}\r\n"));
        let request = format!(
            "POST /v1/commands HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let (code, answer) = http_exchange(api, &request);
        assert_eq!(code, expected, "{token:?}: {answer}");
    }
    // Without the token, the answer comes before any of the body is sent.
    let mut stream = std::net::TcpStream::connect(api).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let head = format!(
        "POST /v1/commands HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    );
    std::io::Write::write_all(&mut stream, head.as_bytes()).unwrap();
    let mut answer = [0u8; 12];
    std::io::Read::read_exact(&mut stream, &mut answer).expect("answered without the body");
    assert_eq!(&answer, b"HTTP/1.1 401");
}

/// Any node takes a command: a follower forwards it to the leader and answers once it
/// applied it itself, through the API and through `psionic-node submit` as the
/// runbook runs it.
#[test]
fn a_command_sent_to_a_follower_is_forwarded_to_the_leader_and_answered_there() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    let follower = cluster.node((leader + 1) % 3);
    let policy = ClusterCommand::SetPolicy {
        name: "through-a-follower".to_owned(),
        document: vec![1, 2, 3],
    };
    let (code, answer) = answered(follower.client().command(&policy));
    let CommandAnswer::Committed { index, .. } = answer else {
        panic!("{code} {answer:?}");
    };
    let state = state_of(follower.listening.operator_addr, psionic_net::Consistency::Linearizable).report;
    assert!(state.applied_index >= index, "{state:?}");
    assert!(
        state.policies.contains_key("through-a-follower"),
        "applied on the follower: {state:?}"
    );

    let token = dir.path().join("operator-token");
    let second = ClusterCommand::SetPolicy {
        name: "through-the-cli".to_owned(),
        document: vec![4],
    };
    let second = serde_json::to_string(&second).unwrap();
    let other_follower = cluster.node((leader + 2) % 3).listening.operator_addr.to_string();
    let (code, stdout, stderr) = node_cli(&[
        "submit",
        "--operator",
        &other_follower,
        "--token-file",
        token.to_str().unwrap(),
        &second,
    ]);
    assert_eq!(code, 0, "submit through a follower succeeds: {stdout} {stderr}");
    assert!(stdout.contains("committed"), "{stdout}");
    cluster.assert_history_linearizable();
}

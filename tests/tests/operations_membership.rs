//! Membership driven as an operator would, with real processes: two removals while
//! their voters are down, and nodes added exactly as the runbook says.
//!
//! proves: F12, F1
#![cfg(not(madsim))]

use std::time::Duration;

use psionic_core::candidates::CandidateState;
use psionic_core::consensus::{ProposalRejection, TransferRefusal};
use psionic_core::state::ClusterCommand;
use psionic_core::status::CandidateAdmission;
use psionic_net::Consistency;
use psionic_net::api::{CommandAnswer, MemberView, MembersAnswer, TransferAnswer, TransferBody};
use psionic_tests::cluster::{CONVERGE, Cluster, applied, commit, leader_of};
use psionic_tests::runbook::{run_as_written, runbook_block};
use psionic_tests::{NodeProcess, answered, client, init_node, node_id, wait_until, write_config, write_token};

#[test]
fn two_removals_while_their_voters_are_down_never_split_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::three_voters(dir.path());
    let a = cluster.await_leader();
    let acknowledged = cluster.commit(a, 1);
    let (b, c) = ((a + 1) % 3, (a + 2) % 3);
    cluster.kill(b);
    cluster.kill(c);
    let api = cluster.node(a).listening.operator_addr;
    let remove = |index: usize| ClusterCommand::RemoveMember {
        node: node_id(&cluster.ids[index]),
    };
    let first = {
        let body = remove(b);
        std::thread::spawn(move || answered(client(api).command(&body)))
    };
    std::thread::sleep(Duration::from_millis(300));
    let (code, answer) = answered(client(api).command(&remove(c)));
    assert!(
        code == 409
            && matches!(
                answer,
                CommandAnswer::Rejected {
                    reason: ProposalRejection::ConfigChangePending { .. },
                    ..
                }
            ),
        "{code} {answer:?}"
    );

    cluster.start(b);
    cluster.start(c);
    let (code, answer) = first.join().unwrap();
    assert!(
        matches!(code, 200 | 409),
        "the first removal commits, or another leader's entry replaces it: {answer:?}"
    );
    let members: Vec<usize> = (0..3).filter(|index| code != 200 || *index != b).collect();
    wait_until(CONVERGE, "the members to agree", || {
        let states: Vec<_> = members.iter().map(|index| applied(cluster.node(*index))).collect();
        states.iter().all(|state| *state == states[0] && state.0 > acknowledged)
    });
    let leaders: Vec<_> = members.iter().map(|index| leader_of(cluster.node(*index))).collect();
    assert!(leaders.iter().all(|leader| *leader == leaders[0]), "{leaders:?}");
    for index in &members {
        let operator = cluster.node(*index).listening.operator_addr;
        cluster.history.read_policies(1, operator, &["policy-1"]);
    }
    cluster.assert_history_linearizable();
}

/// The runbook's "Add a node", run as written: each new node waits as a candidate
/// until the operator's commands admit it, then is promoted to voter.
#[test]
fn nodes_added_as_the_runbook_says_join_the_founders_cluster_and_converge() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_token(&dir.join("token"), "the lab's admission token, 2026\n");
    let founder_id = init_node(&dir.join("n1"));
    let founder = NodeProcess::start(&write_config(dir, "n1", &[], "token")).unwrap();
    wait_until(CONVERGE, "the founder to lead its own cluster", || {
        leader_of(&founder).as_deref() == Some(founder_id.as_str())
    });
    let api = founder.listening.operator_addr;
    let seed = [founder.listening.discovery_addr];
    let block = runbook_block("## Add a node");
    let mut nodes = vec![founder];
    for name in ["n2", "n3"] {
        let id = init_node(&dir.join(name));
        nodes.push(NodeProcess::start(&write_config(dir, name, &seed, "token")).unwrap());
        wait_until(CONVERGE, "the new node to wait as a candidate", || {
            let (_, candidates) = answered(client(api).candidates());
            candidates.iter().any(|candidate| {
                candidate.node_id == node_id(&id)
                    && candidate.state == CandidateState::Introduced
                    && candidate.admission == CandidateAdmission::Operator
            })
        });
        assert!(
            !member_ids(api).contains(&id),
            "not a member before the operator admits it"
        );
        let script = block
            .replace("127.0.0.1:7480", &api.to_string())
            .replace("<node id>", &id);
        let said = run_as_written(dir, &script);
        assert!(
            said.lines()
                .any(|line| line.starts_with(&id) && line.ends_with("operator")),
            "{said}"
        );
    }
    wait_until(CONVERGE, "both added nodes to be promoted to voters", || {
        members(api).iter().filter(|member| member.voter).count() == 3
    });
    let leader = nodes
        .iter()
        .position(|node| leader_of(node).as_deref() == Some(node.listening.node_id.as_str()))
        .expect("a leader");
    let mut last = 0;
    for n in 0..50 {
        last = commit(&nodes[leader], n);
    }
    wait_until(CONVERGE, "every node to apply every command with one digest", || {
        let states: Vec<_> = nodes.iter().map(applied).collect();
        states.iter().all(|state| *state == states[0] && state.0 >= last)
    });
}

fn members(api: std::net::SocketAddr) -> Vec<MemberView> {
    match answered(client(api).members(Consistency::Linearizable)) {
        (200, MembersAnswer::Members(members)) => members,
        (code, answer) => panic!("not read: {code} {answer:?}"),
    }
}

fn member_ids(api: std::net::SocketAddr) -> Vec<String> {
    members(api).iter().map(|member| member.node_id.to_string()).collect()
}

#[test]
fn leadership_is_handed_to_the_named_voter_and_commands_resume() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::three_voters(dir.path());
    let leader = cluster.await_leader();
    cluster.commit(leader, 1);
    let target = (leader + 1) % 3;
    let api = cluster.node(leader).listening.operator_addr;
    let body = TransferBody {
        to: Some(cluster.ids[target].clone()),
    };
    let (code, answer) = answered(client(api).transfer_leadership(&body));
    assert_eq!(
        (code, answer),
        (
            200,
            TransferAnswer::Transferring {
                to: node_id(&cluster.ids[target])
            }
        )
    );
    wait_until(CONVERGE, "the named voter to lead", || cluster.await_leader() == target);
    let last = cluster.commit(target, 2);
    cluster.await_converged(last);
    let stranger = TransferBody {
        to: Some("00112233445566778899aabbccddeeff".to_owned()),
    };
    let (code, answer) = answered(cluster.node(target).client().transfer_leadership(&stranger));
    assert!(
        code == 422
            && matches!(
                answer,
                TransferAnswer::Refused {
                    refusal: TransferRefusal::NotAVoter { .. },
                    ..
                }
            ),
        "{code} {answer:?}"
    );
    cluster.assert_history_linearizable();
}

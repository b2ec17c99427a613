//! Admission token rotation between real cores in memory: the next token is accepted
//! alongside the old until the log commits a cut-over; from then on only the new one
//! is, on every node, across restarts, and a node left on the old token is refused.
//!
//! proves: F10

mod harness;

use harness::{Harness, TOKEN, cluster_id, consensus_configs};
use psionic_core::consensus::ProposalRejection;
use psionic_core::{AdmissionToken, ClusterCommand, RefusalKind, TrustPosture};

const NEXT: &[u8] = b"the harness's next admission token";
const THIRD: &[u8] = b"the harness's third admission token";

fn token(secret: &[u8]) -> AdmissionToken {
    AdmissionToken::new(secret.to_vec()).unwrap()
}

/// Gives node `index` the next token alongside the old, as a SIGHUP does, and keeps
/// it for its restarts.
fn add_next(harness: &mut Harness, index: usize) {
    harness.nodes[index].replace_admission_tokens(token(TOKEN), Some(token(NEXT)));
    harness.configs[index].posture = TrustPosture::TrustedLan {
        token: token(TOKEN),
        next: Some(token(NEXT)),
    };
}

fn cut_over(harness: &mut Harness, leader: usize) -> Result<u64, ProposalRejection> {
    cut_over_to(harness, leader, NEXT)
}

/// Proposes the cut-over to `secret` on `leader` once the voters' hellos (every
/// probe interval) have told it which tokens they hold.
fn cut_over_to(harness: &mut Harness, leader: usize, secret: &[u8]) -> Result<u64, ProposalRejection> {
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    let digest = token(secret).digest(cluster_id());
    let id = harness.nodes[leader].propose(harness.now, ClusterCommand::CutOverAdmissionToken { token: digest });
    let deadline = harness.now.as_millis() + 3_000;
    harness.run_until_ms(deadline);
    harness.outcome_of(leader, id).expect("an outcome within 3 s")
}

fn commit_index(harness: &Harness, index: usize) -> u64 {
    harness.nodes[index].consensus().commit_index()
}

#[test]
fn a_cut_over_keeps_the_holders_committing_and_cuts_off_a_node_left_on_the_old_token() {
    let mut harness = Harness::new(consensus_configs(4, 4), 11);
    let leader = harness.await_leader(5_000);
    let stale = (0..4).find(|index| *index != leader).unwrap();
    for index in (0..4).filter(|index| *index != stale) {
        add_next(&mut harness, index);
    }
    // The overlap: the stale node still seals under the old token, and is heard.
    harness.propose(leader, 4);
    harness.run_until_ms(harness.now.as_millis() + 1_000);
    assert_eq!(commit_index(&harness, stale), commit_index(&harness, leader));

    let index = cut_over(&mut harness, leader).expect("the cut-over commits");
    let digest = token(NEXT).digest(cluster_id());
    for node in (0..4).filter(|node| *node != stale) {
        let status = harness.nodes[node].status(harness.now).admission.unwrap();
        assert_eq!(
            (status.committed, status.accepting.clone()),
            (Some(digest), vec![digest]),
            "node {node}"
        );
        assert!(!status.stale);
    }
    let refused_before = harness.nodes[leader].refusals().get(RefusalKind::AuthenticationFailed);
    let stale_commit = commit_index(&harness, stale);
    harness.propose(leader, 4);
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    assert!(commit_index(&harness, leader) > index, "the holders go on committing");
    assert_eq!(
        commit_index(&harness, stale),
        stale_commit,
        "the stale node hears nothing new"
    );
    assert!(
        harness.nodes[leader].refusals().get(RefusalKind::AuthenticationFailed) > refused_before,
        "the leader refuses the stale node's frames"
    );

    // A holder restarted from its disk keeps the cut-over at once, and catches up.
    let holder = (0..4).find(|node| *node != stale && *node != leader).unwrap();
    harness.reboot(holder);
    let recovered = harness.nodes[holder].status(harness.now).admission.unwrap();
    assert_eq!(
        recovered.accepting,
        vec![digest],
        "from its own disk, before it hears anyone: the cut-over was snapshotted"
    );
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    let status = harness.nodes[holder].status(harness.now).admission.unwrap();
    assert_eq!(status.accepting, vec![digest]);
    assert_eq!(commit_index(&harness, holder), commit_index(&harness, leader));
}

#[test]
fn a_leader_refuses_a_cut_over_to_a_token_it_does_not_hold() {
    let mut harness = Harness::new(consensus_configs(3, 3), 12);
    let leader = harness.await_leader(5_000);
    let refused = cut_over(&mut harness, leader);
    let digest = token(NEXT).digest(cluster_id());
    assert_eq!(refused, Err(ProposalRejection::TokenNotHeld { token: digest }));
    let status = harness.nodes[leader].status(harness.now).admission.unwrap();
    assert_eq!(status.committed, None);
}

/// Before a majority of voters is heard holding the next token, a cut-over would cut
/// the cluster off from a quorum: the leader refuses it, naming how many hold it.
#[test]
fn a_cut_over_waits_for_a_majority_of_voters_to_hold_the_token() {
    let mut harness = Harness::new(consensus_configs(3, 3), 16);
    let leader = harness.await_leader(5_000);
    add_next(&mut harness, leader);
    let digest = token(NEXT).digest(cluster_id());
    assert_eq!(
        cut_over(&mut harness, leader),
        Err(ProposalRejection::TokenNotHeldByQuorum {
            token: digest,
            holders: 1,
            voters: 3
        })
    );
    let other = (0..3).find(|index| *index != leader).unwrap();
    add_next(&mut harness, other);
    cut_over(&mut harness, leader).expect("two of three voters hold it, as its hellos tell");
}

/// The rotation's last step: a node whose configuration now names the new token
/// alone (the old one dropped) restarts and is heard; one that missed the rotation
/// while down, restarted holding both, learns the cut-over from the first frame it
/// verifies and catches up.
#[test]
fn after_the_cut_over_nodes_restart_on_the_new_token_or_catch_up_holding_both() {
    let mut harness = Harness::new(consensus_configs(3, 3), 13);
    let leader = harness.await_leader(5_000);
    let mut others = (0..3).filter(|index| *index != leader);
    let (moved, away) = (others.next().unwrap(), others.next().unwrap());
    for index in 0..3 {
        add_next(&mut harness, index);
    }
    harness.crash(away);
    cut_over(&mut harness, leader).expect("the cut-over commits with two of three");
    harness.propose(leader, 2);
    harness.configs[moved].posture = TrustPosture::TrustedLan {
        token: token(NEXT),
        next: None,
    };
    harness.reboot(moved);
    harness.reboot(away);
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    let digest = token(NEXT).digest(cluster_id());
    for index in [moved, away] {
        assert_eq!(
            commit_index(&harness, index),
            commit_index(&harness, leader),
            "node {index}"
        );
        let status = harness.nodes[index].status(harness.now).admission.unwrap();
        assert_eq!((status.accepting, status.committed), (vec![digest], Some(digest)));
    }
}

/// A second rotation, while a node is cut off: the token the first cut over to is in
/// force and the third is accepted alongside it, so the node that missed the second
/// cut-over hears the nodes that applied it, and catches up.
#[test]
fn a_node_cut_off_during_a_second_rotation_catches_up_after_the_heal() {
    let mut harness = Harness::new(consensus_configs(3, 3), 14);
    let leader = harness.await_leader(5_000);
    for index in 0..3 {
        add_next(&mut harness, index);
    }
    cut_over(&mut harness, leader).expect("the first cut-over commits");
    for index in 0..3 {
        harness.nodes[index].replace_admission_tokens(token(NEXT), Some(token(THIRD)));
    }
    let cut_off = (0..3).find(|index| *index != leader).unwrap();
    let others: Vec<usize> = (0..3).filter(|index| *index != cut_off).collect();
    harness.partition(&[cut_off], &others);
    cut_over_to(&mut harness, leader, THIRD).expect("the second cut-over commits with two of three");
    harness.propose(leader, 3);
    harness.heal();
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    assert_eq!(commit_index(&harness, cut_off), commit_index(&harness, leader));
    let third = token(THIRD).digest(cluster_id());
    let status = harness.nodes[cut_off].status(harness.now).admission.unwrap();
    assert_eq!((status.accepting, status.committed), (vec![third], Some(third)));
}

/// A node cut off before it ever heard the cluster, given both tokens, and healed
/// after the cut-over: no peer knows its address and it has heard no one, so its
/// introductions to each seed take its tokens in turn until one is heard (two seeds:
/// turns counted over every introduction would give each seed the same token); it
/// then joins.
#[test]
fn a_node_that_never_heard_the_cluster_before_the_cut_over_joins_after_it() {
    let mut configs = consensus_configs(4, 3);
    configs[3].seeds = vec![harness::addr(0), harness::addr(1)];
    let mut harness = Harness::new(configs, 15);
    harness.partition(&[3], &[0, 1, 2]);
    let leader = harness.await_leader(5_000);
    for index in 0..4 {
        add_next(&mut harness, index);
    }
    cut_over(&mut harness, leader).expect("the cut-over commits");
    harness.propose(leader, 2);
    harness.heal();
    // Its dial backoff (at most 8 s) sets when it next introduces itself.
    harness.run_until_ms(harness.now.as_millis() + 12_000);
    assert_eq!(commit_index(&harness, 3), commit_index(&harness, leader));
    let status = harness.nodes[3].status(harness.now).admission.unwrap();
    assert_eq!(status.committed, Some(token(NEXT).digest(cluster_id())));
}

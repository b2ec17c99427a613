//! Admission under an allowlist of binaries: a candidate whose measured binary is not
//! listed is never admitted, by the leader's upkeep or by an operator, and the
//! refusal names what it measured; one running a listed binary joins.
//!
//! proves: F10

mod harness;

use harness::{Harness, consensus_configs};
use psionic_core::attestation::{AttestationRefusal, BinaryDigest};
use psionic_core::consensus::ProposalRejection;
use psionic_core::status::CandidateAdmission;
use psionic_core::{ClusterCommand, NodeId, NodeRole};

const APPROVED: BinaryDigest = BinaryDigest([0xa1; 32]);
const OTHER: BinaryDigest = BinaryDigest([0xb2; 32]);

fn cluster() -> Harness {
    let mut configs = consensus_configs(5, 3);
    for (index, config) in configs.iter_mut().enumerate() {
        config.consensus.allowed_binaries = [APPROVED].into();
        config.binary = Some(if index == 3 { OTHER } else { APPROVED });
    }
    Harness::new(configs, 21)
}

fn is_member(harness: &Harness, leader: usize, index: usize) -> bool {
    let node = harness.nodes[index].node_id();
    harness.nodes[leader].consensus().state().is_member(node)
}

/// The outcome of an operator's `admit-member` of `node` through `leader`.
fn operator_admits(harness: &mut Harness, leader: usize, node: NodeId) -> Option<Result<u64, ProposalRejection>> {
    let admit = ClusterCommand::AdmitMember {
        node,
        role: NodeRole::Both,
        stream_addr: None,
    };
    let id = harness.nodes[leader].propose(harness.now, admit);
    harness.run_until_ms(harness.now.as_millis() + 100);
    harness.outcome_of(leader, id)
}

#[test]
fn a_candidate_running_an_unlisted_binary_is_never_admitted_and_the_refusal_names_it() {
    let mut harness = cluster();
    let leader = harness.await_leader(5_000);
    harness.run_until_ms(harness.now.as_millis() + 3_000);
    assert!(is_member(&harness, leader, 4), "a listed binary joins");
    assert!(!is_member(&harness, leader, 3), "an unlisted binary does not");
    let unlisted = harness.nodes[3].node_id();
    let status = harness.nodes[leader].status(harness.now);
    let candidate = status.candidates.iter().find(|candidate| candidate.node_id == unlisted);
    assert_eq!(
        candidate.map(|candidate| candidate.admission),
        Some(CandidateAdmission::NotAttested {
            refusal: AttestationRefusal::NotAllowed { measured: OTHER }
        })
    );

    assert_eq!(
        operator_admits(&mut harness, leader, unlisted),
        Some(Err(ProposalRejection::NotAttested {
            node: unlisted,
            refusal: AttestationRefusal::NotAllowed { measured: OTHER },
        })),
        "an operator cannot admit it either"
    );
}

#[test]
fn a_candidate_heard_without_a_measurement_is_refused_as_not_measured() {
    let mut configs = consensus_configs(4, 3);
    for config in &mut configs {
        config.consensus.allowed_binaries = [APPROVED].into();
        config.binary = Some(APPROVED);
    }
    configs[3].binary = None;
    let mut harness = Harness::new(configs, 22);
    let leader = harness.await_leader(5_000);
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    assert!(!is_member(&harness, leader, 3));
    let unmeasured = harness.nodes[3].node_id();
    let status = harness.nodes[leader].status(harness.now);
    let candidate = status
        .candidates
        .iter()
        .find(|candidate| candidate.node_id == unmeasured);
    assert_eq!(
        candidate.map(|candidate| candidate.admission),
        Some(CandidateAdmission::NotAttested {
            refusal: AttestationRefusal::NotMeasured
        })
    );
}

/// A candidate configured with another trust bundle (here, an allowlist that also
/// names another binary) is not admitted; the refusal names both bundle digests, and
/// status shows each peer's.
#[test]
fn a_candidate_with_another_trust_bundle_is_not_admitted_and_both_digests_are_named() {
    let mut configs = consensus_configs(4, 3);
    for config in &mut configs {
        config.consensus.allowed_binaries = [APPROVED].into();
        config.binary = Some(APPROVED);
    }
    configs[3].consensus.allowed_binaries = [APPROVED, OTHER].into();
    let mut harness = Harness::new(configs, 23);
    let leader = harness.await_leader(5_000);
    harness.run_until_ms(harness.now.as_millis() + 2_000);
    assert!(!is_member(&harness, leader, 3));
    let status = harness.nodes[leader].status(harness.now);
    let theirs = harness.nodes[3].status(harness.now).trust;
    let (ours, candidate) = (status.trust.unwrap(), harness.nodes[3].node_id());
    assert_ne!(Some(ours), theirs);
    let refusal = AttestationRefusal::TrustMismatch { ours, theirs };
    let seen = status.candidates.iter().find(|entry| entry.node_id == candidate);
    assert_eq!(
        seen.map(|entry| entry.admission),
        Some(CandidateAdmission::NotAttested { refusal })
    );
    let peer = status.peers.iter().find(|peer| peer.node_id == candidate).unwrap();
    assert_eq!(peer.trust, theirs, "status shows the peer's bundle digest");
    assert_eq!(
        operator_admits(&mut harness, leader, candidate),
        Some(Err(ProposalRejection::NotAttested {
            node: candidate,
            refusal
        }))
    );
}

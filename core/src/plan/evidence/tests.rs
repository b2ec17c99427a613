use super::*;
use crate::backend::Backend;
use crate::consensus::endorsement::Endorsement;
use crate::identity::NodeEpoch;
use crate::plan::SelectedDevice;
use crate::plan::fixture::{model, node};

const CLUSTER: ClusterId = ClusterId([7; 16]);

fn coordinator(seed: u8) -> NodeIdentity {
    NodeIdentity::new([seed; 32], NodeEpoch(1))
}

fn context(leader: &NodeIdentity, term: u64) -> ClusterExecutionContext {
    let plan = ExecutionTopologyPlan::WholeRequest {
        artifact: model(),
        selected: SelectedDevice {
            node: node(3),
            backend: Backend::Cuda,
            device: Some(0),
        },
    };
    ClusterExecutionContext {
        cluster_id: CLUSTER,
        request: RequestId([1; 16]),
        prompt_digest: Digest::of_bytes(DigestKind::Prompt, PROMPT),
        sampling: crate::token::Sampling::at(700, 9),
        state_digest: model(),
        topology_digest: model(),
        residency_digest: model(),
        policy_digest: model(),
        plan_digest: plan.digest(),
        plan,
        transport: TransportClass::Stream,
        reroutes: vec![Reroute {
            from: node(2),
            reason: RerouteReason::NodeLost,
        }],
        authority: Authority {
            cluster_id: CLUSTER,
            term,
            commit_index: 40,
            fence: Fence(term),
            leader: leader.node_id(),
        },
        provenance: FactProvenance {
            devices: vec![super::ExecutedDevice {
                node: node(3),
                backend: Backend::Cuda,
                profile: Some(crate::backend::DeviceProfile {
                    ordinal: 0,
                    name: "H100".into(),
                    uuid: "GPU-5a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9".into(),
                    total_memory_bytes: 80 << 30,
                    compute_capability: (9, 0),
                }),
            }],
            applied_index: 40,
            applied_term: term,
            telemetry_age_ms: [(node(3), 120)].into(),
            set_by: [(
                format!("readiness/{}/cuda", node(3)),
                crate::state::SetBy {
                    origin: crate::state::Origin::Member { node: node(3) },
                    index: 38,
                },
            )]
            .into(),
        },
        result_digest: Some(crate::token::output_digest(TOKENS)),
        leadership: elected(leader, term, &VOTERS),
    }
}

/// The seeds of the voters the verifier trusts.
const VOTERS: [u8; 3] = [1, 2, 8];

/// A certificate of `leader` elected in `term` by the voters of `seeds`.
fn elected(leader: &NodeIdentity, term: u64, seeds: &[u8]) -> LeadershipCertificate {
    let endorsements = seeds
        .iter()
        .map(|seed| Endorsement::sign(&coordinator(*seed), CLUSTER, term, leader.node_id()))
        .collect();
    LeadershipCertificate {
        term,
        leader: leader.node_id(),
        endorsements,
    }
}

fn voters() -> BTreeSet<NodeId> {
    VOTERS.iter().map(|seed| coordinator(*seed).node_id()).collect()
}

const TOKENS: &[crate::token::Token] = &[116, 104, 101, 32, 97, 110, 115, 119, 101, 114];
const PROMPT: &[u8] = b"the question";

#[test]
fn the_tokens_and_prompt_are_those_signed_over() {
    let leader = coordinator(1);
    let bundle = SignedEvidence::sign(context(&leader, 5), &leader);
    assert_eq!(bundle.check_output(TOKENS), Ok(()));
    assert_eq!(bundle.check_prompt(PROMPT), Ok(()));
    let edited: &[crate::token::Token] = &[97, 110];
    assert_eq!(
        bundle.check_output(edited),
        Err(EvidenceRefusal::OutputDigest {
            claimed: Some(crate::token::output_digest(TOKENS)),
            computed: crate::token::output_digest(edited),
        })
    );
    assert!(matches!(
        bundle.check_prompt(b"another question"),
        Err(EvidenceRefusal::PromptDigest { .. })
    ));
}

fn keys(identities: &[&NodeIdentity]) -> BTreeMap<NodeId, VerifyingKey> {
    identities
        .iter()
        .map(|identity| (identity.node_id(), identity.public_key()))
        .collect()
}

#[test]
fn genuine_evidence_verifies_offline() {
    let leader = coordinator(1);
    let bundle = SignedEvidence::sign(context(&leader, 5), &leader);
    assert_eq!(bundle.verify(CLUSTER, (&keys(&[&leader]), &voters()), Fence(5)), Ok(()));
}

#[test]
fn a_tampered_bundle_is_refused() {
    let leader = coordinator(1);
    let keys = keys(&[&leader]);
    let mut bundle = SignedEvidence::sign(context(&leader, 5), &leader);
    bundle.context.result_digest = None;
    assert_eq!(
        bundle.verify(CLUSTER, (&keys, &voters()), Fence(5)),
        Err(EvidenceRefusal::Signature)
    );
    // The draw it claims (another seed draws other tokens) is signed over too.
    let mut bundle = SignedEvidence::sign(context(&leader, 5), &leader);
    bundle.context.sampling = crate::token::Sampling::at(700, 10);
    assert_eq!(
        bundle.verify(CLUSTER, (&keys, &voters()), Fence(5)),
        Err(EvidenceRefusal::Signature)
    );
    let mut bundle = SignedEvidence::sign(context(&leader, 5), &leader);
    bundle.signature[0] ^= 1;
    assert_eq!(
        bundle.verify(CLUSTER, (&keys, &voters()), Fence(5)),
        Err(EvidenceRefusal::Signature)
    );
}

#[test]
fn a_deposed_coordinators_bundle_is_refused() {
    let (old, new) = (coordinator(1), coordinator(2));
    let keys = keys(&[&old, &new]);
    let stale = SignedEvidence::sign(context(&old, 4), &old);
    assert_eq!(
        stale.verify(CLUSTER, (&keys, &voters()), Fence(6)),
        Err(EvidenceRefusal::StaleFence {
            got: Fence(4),
            newest: Fence(6)
        })
    );
    let current = SignedEvidence::sign(context(&new, 6), &new);
    assert_eq!(current.verify(CLUSTER, (&keys, &voters()), Fence(6)), Ok(()));
}

#[test]
fn only_the_named_leader_with_a_trusted_key_may_sign() {
    let (leader, other, stranger) = (coordinator(1), coordinator(2), coordinator(3));
    let trusted = keys(&[&leader, &other]);
    let forged = SignedEvidence::sign(context(&leader, 5), &other);
    assert_eq!(
        forged.verify(CLUSTER, (&trusted, &voters()), Fence(5)),
        Err(EvidenceRefusal::NotTheLeader {
            signer: other.node_id(),
            leader: leader.node_id()
        })
    );
    let unknown = SignedEvidence::sign(context(&stranger, 5), &stranger);
    assert_eq!(
        unknown.verify(CLUSTER, (&trusted, &voters()), Fence(5)),
        Err(EvidenceRefusal::UnknownSigner {
            signer: stranger.node_id()
        })
    );
    let bundle = SignedEvidence::sign(context(&leader, 5), &leader);
    assert!(matches!(
        bundle.verify(ClusterId([8; 16]), (&trusted, &voters()), Fence(5)),
        Err(EvidenceRefusal::ClusterMismatch { .. })
    ));
}

#[test]
fn a_plan_that_does_not_match_its_digest_is_refused() {
    let leader = coordinator(1);
    let mut context = context(&leader, 5);
    context.plan_digest = model();
    let bundle = SignedEvidence::sign(context, &leader);
    assert!(matches!(
        bundle.verify(CLUSTER, (&keys(&[&leader]), &voters()), Fence(5)),
        Err(EvidenceRefusal::PlanDigest { .. })
    ));
}

#[test]
fn a_signer_not_elected_by_a_majority_of_the_trusted_voters_is_refused() {
    let leader = coordinator(1);
    let keys = keys(&[&leader]);
    let mut context = context(&leader, 5);
    context.leadership = elected(&leader, 5, &[1, 9]);
    let self_elected = SignedEvidence::sign(context.clone(), &leader);
    assert!(matches!(
        self_elected.verify(CLUSTER, (&keys, &voters()), Fence(5)),
        Err(EvidenceRefusal::Leadership(LeadershipRefusal::NoMajority {
            endorsed: 1,
            voters: 3,
            ..
        }))
    ));
    context.leadership = elected(&leader, 4, &VOTERS);
    let other_term = SignedEvidence::sign(context, &leader);
    assert!(matches!(
        other_term.verify(CLUSTER, (&keys, &voters()), Fence(5)),
        Err(EvidenceRefusal::Leadership(LeadershipRefusal::OtherElection {
            term: 4,
            ..
        }))
    ));
}

//! A candidate that signs evidence counts a granted vote only with the voter's
//! signature over it, and leads holding those signatures.

use crate::consensus::ConsensusRefusal;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::super::election::Vote;
use super::super::endorsement::Endorsement;
use super::super::{Consensus, ConsensusConfig, Durable, Effect, Role};
use crate::identity::{ClusterId, NodeEpoch, NodeIdentity, NodeRole};
use crate::time::Instant;

const CLUSTER: ClusterId = ClusterId([5; 16]);

fn identity(n: u8) -> NodeIdentity {
    NodeIdentity::new([n; 32], NodeEpoch(1))
}

/// Node 1 of three, standing in term 1.
fn candidate() -> Consensus {
    let config = ConsensusConfig {
        initial_voters: (1..=3).map(|n| (identity(n).node_id(), NodeRole::Both)).collect(),
        ..ConsensusConfig::default()
    };
    let me = (identity(1).node_id(), NodeEpoch(1), CLUSTER);
    let rng = ChaCha8Rng::seed_from_u64(1);
    let mut consensus = Consensus::new(me, config, Durable::default(), rng, Instant::ZERO).unwrap();
    consensus.signer = Some(identity(1));
    consensus.start_election(Instant::from_millis(1_000), false);
    consensus.effects.clear();
    consensus
}

fn granted(endorsement: Option<Endorsement>) -> Vote {
    Vote {
        term: 1,
        granted: true,
        pre_vote: false,
        leader: None,
        endorsement: endorsement.map(Box::new),
    }
}

#[test]
fn a_vote_without_its_voters_signature_is_refused_and_not_counted() {
    let mut candidate = candidate();
    let now = Instant::from_millis(1_010);
    let voter = identity(2).node_id();
    candidate.on_vote_response(now, voter, granted(None));
    let someone_elses = Endorsement::sign(&identity(3), CLUSTER, 1, identity(1).node_id());
    candidate.on_vote_response(now, voter, granted(Some(someone_elses)));
    let for_another_term = Endorsement::sign(&identity(2), CLUSTER, 2, identity(1).node_id());
    candidate.on_vote_response(now, voter, granted(Some(for_another_term)));
    let refused = Effect::Refuse(ConsensusRefusal::BadEndorsement { sender: voter, term: 1 });
    assert_eq!(candidate.effects.iter().filter(|effect| **effect == refused).count(), 3);
    assert!(matches!(candidate.role, Role::Candidate { .. }), "no vote counted");

    let signed = Endorsement::sign(&identity(2), CLUSTER, 1, identity(1).node_id());
    candidate.on_vote_response(now, voter, granted(Some(signed)));
    let Role::Leader(leadership) = &candidate.role else {
        panic!("a signed vote makes a quorum of two");
    };
    let certificate = &leadership.certificate;
    let voters = [identity(1), identity(2), identity(3)].map(|id| id.node_id()).into();
    assert_eq!(
        certificate.check(CLUSTER, (1, identity(1).node_id()), (&voters, &Default::default())),
        Ok(())
    );
}

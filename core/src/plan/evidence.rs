//! Execution evidence: what the coordinator promised for one request, from which
//! facts, under which authority, signed so anyone holding the cluster's public keys
//! can check it offline.
//!
//! Invariants: the signature covers the SHA-256 (evidence domain) of the context's
//! postcard encoding, so any changed byte is refused; a bundle is accepted only from
//! the leader its authority names, holding a key the verifier trusts, and elected in
//! the authority's term by a majority of the voters the verifier trusts (signed
//! votes in the context).

use crate::token::Token;
use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::topology::ExecutionTopologyPlan;
use crate::consensus::endorsement::{LeadershipCertificate, LeadershipRefusal};
use crate::consensus::{Authority, Fence};
use crate::digest::{Digest, DigestKind};
use crate::identity::{ClusterId, NodeId, NodeIdentity, RequestId};
use crate::transport::TransportClass;

/// Why a request left a node it was placed on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reroute {
    /// The node it left.
    pub from: NodeId,
    /// What happened there.
    pub reason: RerouteReason,
}

/// Why a request was placed again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RerouteReason {
    /// The executing node stopped answering or left the cluster.
    NodeLost,
    /// The node refused the assignment (stale fence, unknown plan, or facts that
    /// contradict it).
    AssignmentRefused,
    /// The executor failed the request.
    ExecutionFailed,
}

/// Where the facts a plan used came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactProvenance {
    /// Index of the last entry applied to the state planned from.
    pub applied_index: u64,
    /// Its term.
    pub applied_term: u64,
    /// Age of each selected node's telemetry when planning (absent: none held).
    pub telemetry_age_ms: BTreeMap<NodeId, u64>,
    /// Who set each fact the plan relied on, and at which index: the executing
    /// nodes' membership and backend readiness, the model's residency on them, its
    /// replica set and the serving policy (by [`crate::state::ClusterCommand::fact_key`]).
    pub set_by: BTreeMap<String, crate::state::SetBy>,
    /// Each device the plan runs on, as the committed readiness at `applied_index`
    /// records it (for CUDA, its UUID), in the plan's order.
    pub devices: Vec<ExecutedDevice>,
}

/// A device a plan ran on: where it sits, and what the cluster recorded of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutedDevice {
    /// The node.
    pub node: NodeId,
    /// The backend.
    pub backend: crate::backend::Backend,
    /// The device as committed (ordinal, name, UUID, memory); none when the backend
    /// has no devices (the CPU) or the record no longer lists it.
    pub profile: Option<crate::backend::DeviceProfile>,
}

/// Everything the coordinator asserts about one request's execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterExecutionContext {
    /// The cluster.
    pub cluster_id: ClusterId,
    /// The request.
    pub request: RequestId,
    /// SHA-256 (prompt domain) over the request's prompt.
    pub prompt_digest: Digest,
    /// How the tokens were chosen (a seeded draw is reproducible from it).
    pub sampling: crate::token::Sampling,
    /// State digest planned from.
    pub state_digest: Digest,
    /// Topology digest planned from.
    pub topology_digest: Digest,
    /// Residency digest planned from.
    pub residency_digest: Digest,
    /// Serving-policy digest in force.
    pub policy_digest: Digest,
    /// The plan executed.
    pub plan: ExecutionTopologyPlan,
    /// Its digest.
    pub plan_digest: Digest,
    /// How the assignment travelled.
    pub transport: TransportClass,
    /// Earlier placements of the request and why each was left.
    pub reroutes: Vec<Reroute>,
    /// Authority the assignment was issued under.
    pub authority: Authority,
    /// Where the facts came from.
    pub provenance: FactProvenance,
    /// SHA-256 (output domain) over the tokens delivered, computed by the coordinator
    /// from the tokens it answers with.
    pub result_digest: Option<Digest>,
    /// The signed votes that made the signer leader of the authority's term.
    pub leadership: LeadershipCertificate,
}

impl ClusterExecutionContext {
    /// SHA-256 (evidence domain) over the postcard encoding: what is signed.
    pub fn digest(&self) -> Digest {
        let bytes = postcard::to_allocvec(self).expect("postcard encoding into a Vec is infallible");
        Digest::of_bytes(DigestKind::Evidence, &bytes)
    }
}

/// A context signed by the coordinator that issued it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEvidence {
    /// The context.
    pub context: ClusterExecutionContext,
    /// The signer.
    pub signer: NodeId,
    /// ed25519 signature over [`ClusterExecutionContext::digest`].
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// Why evidence was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceRefusal {
    /// Issued for another cluster.
    #[error("evidence for cluster {got}, expected {expected}")]
    ClusterMismatch {
        /// The verifier's cluster.
        expected: ClusterId,
        /// The evidence's.
        got: ClusterId,
    },
    /// Signed by a node whose key the verifier does not hold.
    #[error("signer {signer} is not among the trusted keys")]
    UnknownSigner {
        /// The signer.
        signer: NodeId,
    },
    /// Signed by a node other than the leader its authority names.
    #[error("signed by {signer}, but the authority names leader {leader}")]
    NotTheLeader {
        /// The signer.
        signer: NodeId,
        /// The authority's leader.
        leader: NodeId,
    },
    /// The plan digest does not match the plan.
    #[error("plan digest {claimed} does not match the plan ({computed})")]
    PlanDigest {
        /// Claimed.
        claimed: Digest,
        /// Computed.
        computed: Digest,
    },
    /// The tokens answered are not the ones the evidence was signed over.
    #[error("the tokens' digest is {computed}, the evidence names {claimed:?}")]
    OutputDigest {
        /// Named by the evidence.
        claimed: Option<Digest>,
        /// Computed from the tokens.
        computed: Digest,
    },
    /// The prompt is not the one the evidence was signed over.
    #[error("the prompt's digest is {computed}, the evidence names {claimed}")]
    PromptDigest {
        /// Named by the evidence.
        claimed: Digest,
        /// Computed from the prompt.
        computed: Digest,
    },
    /// The authority's digest fields do not match, or the signature does not verify.
    #[error("signature does not verify over the evidence")]
    Signature,
    /// The signed votes do not show the signer elected in the authority's term by a
    /// majority of the trusted voters.
    #[error("no proof of leadership: {0}")]
    Leadership(#[from] LeadershipRefusal),
    /// Issued under a fence older than the verifier knows to be current: by a deposed
    /// coordinator.
    #[error("issued under fence {got:?}; fence {newest:?} is current")]
    StaleFence {
        /// The evidence's fence.
        got: Fence,
        /// The fence the verifier requires at least.
        newest: Fence,
    },
}

impl SignedEvidence {
    /// Checks that `tokens` are the output the (verified) evidence was signed over.
    pub fn check_output(&self, tokens: &[Token]) -> Result<(), EvidenceRefusal> {
        let computed = crate::token::output_digest(tokens);
        if self.context.result_digest != Some(computed) {
            return Err(EvidenceRefusal::OutputDigest {
                claimed: self.context.result_digest,
                computed,
            });
        }
        Ok(())
    }

    /// Checks that `prompt` is the prompt the (verified) evidence was signed over.
    pub fn check_prompt(&self, prompt: &[u8]) -> Result<(), EvidenceRefusal> {
        let computed = Digest::of_bytes(DigestKind::Prompt, prompt);
        if self.context.prompt_digest != computed {
            return Err(EvidenceRefusal::PromptDigest {
                claimed: self.context.prompt_digest,
                computed,
            });
        }
        Ok(())
    }

    /// Signs `context` as `identity`.
    pub fn sign(context: ClusterExecutionContext, identity: &NodeIdentity) -> Self {
        let signature = identity.signing_key().sign(&context.digest().0).to_bytes().to_vec();
        Self {
            context,
            signer: identity.node_id(),
            signature,
        }
    }

    /// Checks the bundle against `cluster_id`, the cluster's public keys, the voters
    /// the verifier trusts, and the newest fence it knows of.
    pub fn verify(
        &self,
        cluster_id: ClusterId,
        (keys, voters): (&BTreeMap<NodeId, VerifyingKey>, &BTreeSet<NodeId>),
        newest: Fence,
    ) -> Result<(), EvidenceRefusal> {
        let context = &self.context;
        if context.cluster_id != cluster_id {
            return Err(EvidenceRefusal::ClusterMismatch {
                expected: cluster_id,
                got: context.cluster_id,
            });
        }
        let key = keys
            .get(&self.signer)
            .ok_or(EvidenceRefusal::UnknownSigner { signer: self.signer })?;
        let signature = Signature::from_slice(&self.signature).map_err(|_| EvidenceRefusal::Signature)?;
        key.verify_strict(&context.digest().0, &signature)
            .map_err(|_| EvidenceRefusal::Signature)?;
        if context.authority.leader != self.signer {
            return Err(EvidenceRefusal::NotTheLeader {
                signer: self.signer,
                leader: context.authority.leader,
            });
        }
        let election = (context.authority.term, context.authority.leader);
        context.leadership.check(cluster_id, election, (voters, keys))?;
        let computed = context.plan.digest();
        if computed != context.plan_digest {
            return Err(EvidenceRefusal::PlanDigest {
                claimed: context.plan_digest,
                computed,
            });
        }
        if context.authority.fence < newest {
            return Err(EvidenceRefusal::StaleFence {
                got: context.authority.fence,
                newest,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

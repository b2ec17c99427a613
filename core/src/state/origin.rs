//! Who proposed each entry, and under which authority: checked by the leader before
//! it appends, and again by every node when it applies, so an entry a faulty leader
//! let through is refused identically everywhere.
//!
//! Rules: an operator's entry names its credential and the scope it used, which must
//! be the scope its command needs, and records the authorization policy the leader
//! had in force; the leader's own upkeep only admits listed
//! candidates (no stream address), marks members ready, promotes them and retires the
//! key a node rotated from; a member's
//! report (relayed by
//! the leader) only sets that member's own backend readiness or residency.

use serde::{Deserialize, Serialize};

use super::{ApplyRefusal, ClusterCommand, Scope};
use crate::identity::NodeId;
use crate::limits::CREDENTIAL_ID_LEN_MAX;

/// Who proposed an entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// An operator, through a credential.
    Operator {
        /// The credential's id.
        credential: String,
        /// The scope it used.
        scope: Scope,
        /// Digest of the authorization policy the leader had in force when it took the
        /// proposal (none: no policy committed then). A record: every node checks the
        /// entry against the policy committed when it applies it.
        policy: Option<crate::digest::Digest>,
    },
    /// The leader's upkeep of the membership.
    Leader,
    /// A member's report about itself.
    Member {
        /// The member.
        node: NodeId,
    },
}

/// Which kind of origin, in a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OriginKind {
    /// [`Origin::Leader`].
    Leader,
    /// [`Origin::Member`].
    Member,
}

/// The credential id of proposals made through a node's own API rather than an
/// operator's (tests, benchmarks, the demo).
pub const LOCAL_CREDENTIAL: &str = "local";

impl Origin {
    /// An operator using `credential` with the scope `command` needs (the leader
    /// records the policy in force when it takes the proposal).
    pub fn operator(credential: &str, command: &ClusterCommand) -> Self {
        Origin::Operator {
            credential: credential.to_owned(),
            scope: command.scope(),
            policy: None,
        }
    }

    /// This origin, recording `policy` as the authorization policy in force, if an
    /// operator's.
    pub fn under_policy(mut self, in_force: Option<crate::digest::Digest>) -> Self {
        if let Origin::Operator { policy, .. } = &mut self {
            *policy = in_force;
        }
        self
    }

    /// Checks that this origin may propose `command` in `state` (see the module rules
    /// and [`super::AuthorizationPolicy`]).
    pub fn check(&self, command: &ClusterCommand, state: &super::ClusterState) -> Result<(), ApplyRefusal> {
        match self {
            Origin::Operator { credential, scope, .. } => {
                if credential.is_empty() || credential.len() > CREDENTIAL_ID_LEN_MAX {
                    return Err(ApplyRefusal::CredentialId {
                        len: credential.len(),
                        max: CREDENTIAL_ID_LEN_MAX,
                    });
                }
                let needed = command.scope();
                if *scope != needed {
                    return Err(ApplyRefusal::ScopeMismatch { needed, used: *scope });
                }
                reported_by_node(command, state)?;
                match state.authorization() {
                    Some((policy, authorization)) if !authorization.allows(credential, needed) => {
                        Err(ApplyRefusal::NotAuthorized { needed, policy })
                    }
                    _ => Ok(()),
                }
            }
            Origin::Leader => match command {
                ClusterCommand::AdmitMember { stream_addr: None, .. }
                | ClusterCommand::PromoteVoter { .. }
                | ClusterCommand::RetireNodeKey { .. }
                | ClusterCommand::SetMemberStatus {
                    status: super::MemberStatus::Ready,
                    ..
                } => Ok(()),
                _ => Err(ApplyRefusal::OriginMayNot {
                    origin: OriginKind::Leader,
                    needed: command.scope(),
                }),
            },
            Origin::Member { node } => match command {
                ClusterCommand::SetBackendReadiness { node: about, .. }
                | ClusterCommand::SetArtifactResidency { node: about, .. } => {
                    if about == node {
                        Ok(())
                    } else {
                        Err(ApplyRefusal::NotOwnFact {
                            reporter: *node,
                            about: *about,
                        })
                    }
                }
                _ => Err(ApplyRefusal::OriginMayNot {
                    origin: OriginKind::Member,
                    needed: command.scope(),
                }),
            },
        }
    }
}

/// At apply: an operator's residency claim about a node that reports its own
/// residency (it set one of its residency facts itself) is refused, and so is asking
/// it to stage what it reports resident. This is the rule entries were committed
/// under before [`Origin::check_proposal`] refused every claim; it stays as it was so
/// that a log replays to the same state.
fn reported_by_node(command: &ClusterCommand, state: &super::ClusterState) -> Result<(), ApplyRefusal> {
    let ClusterCommand::SetArtifactResidency {
        node,
        artifact,
        residency,
    } = command
    else {
        return Ok(());
    };
    let prefix = format!("residency/{node}/");
    let reports_itself = state
        .set_by
        .range(prefix.clone()..)
        .take_while(|(key, _)| key.starts_with(&prefix))
        .any(|(_, set_by)| set_by.origin == Origin::Member { node: *node });
    let refused = match residency {
        super::Residency::Staging { .. } => reports_itself && resident_here(state, node, artifact),
        _ => reports_itself,
    };
    match refused {
        true => Err(ApplyRefusal::ReportedByNode {
            node: *node,
            artifact: *artifact,
        }),
        false => Ok(()),
    }
}

fn resident_here(state: &super::ClusterState, node: &NodeId, artifact: &crate::digest::Digest) -> bool {
    state.residency.get(node).and_then(|held| held.get(artifact)) == Some(&super::Residency::Resident)
}

impl Origin {
    /// [`Origin::check`], and what a leader refuses to append although the apply
    /// rule (kept for replay) would take it: residency is only what a node reports of
    /// itself, so an operator may only ask a node to stage (`staging{0,0}`) an artifact
    /// it does not report resident.
    pub fn check_proposal(&self, command: &ClusterCommand, state: &super::ClusterState) -> Result<(), ApplyRefusal> {
        self.check(command, state)?;
        let (
            Origin::Operator { .. },
            ClusterCommand::SetArtifactResidency {
                node,
                artifact,
                residency,
            },
        ) = (self, command)
        else {
            return Ok(());
        };
        match *residency != super::Residency::STAGING_ASKED || resident_here(state, node, artifact) {
            true => Err(ApplyRefusal::ReportedByNode {
                node: *node,
                artifact: *artifact,
            }),
            false => Ok(()),
        }
    }
}

/// Who set a fact, and at which index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetBy {
    /// The proposer.
    pub origin: Origin,
    /// The entry that set it.
    pub index: u64,
}

/// Whether the fact `key` (a [`ClusterCommand::fact_key`]) is about member `node`
/// (`node` in the id's display form): its membership, a link of it, its residency or
/// readiness.
pub(super) fn fact_names_member(key: &str, node: &str) -> bool {
    let mut parts = key.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("member" | "residency" | "readiness"), Some(first), _) => first == node,
        (Some("link"), Some(low), Some(high)) => low == node || high == node,
        _ => false,
    }
}

impl ClusterCommand {
    /// The key of the fact this command sets, in [`super::ClusterState::set_by`].
    pub fn fact_key(&self) -> String {
        match self {
            ClusterCommand::AdmitMember { node, .. }
            | ClusterCommand::PromoteVoter { node }
            | ClusterCommand::RemoveMember { node }
            | ClusterCommand::SetMemberStatus { node, .. }
            | ClusterCommand::SetRole { node, .. } => format!("member/{node}"),
            ClusterCommand::DeclareLink { a, b, .. } => {
                let (low, high) = if a < b { (a, b) } else { (b, a) };
                format!("link/{low}/{high}")
            }
            ClusterCommand::SetArtifactResidency { node, artifact, .. } => format!("residency/{node}/{artifact}"),
            ClusterCommand::SetBackendReadiness { node, backend, .. } => {
                let backend = match backend {
                    crate::backend::Backend::Cpu => "cpu",
                    crate::backend::Backend::Cuda => "cuda",
                    crate::backend::Backend::Metal => "metal",
                };
                format!("readiness/{node}/{backend}")
            }
            ClusterCommand::DeclareReplicaSet { artifact, .. } => format!("replica-set/{artifact}"),
            ClusterCommand::CutOverAdmissionToken { .. } => "admission-token".to_owned(),
            ClusterCommand::SetServingPolicy { .. } => super::SERVING_POLICY_FACT.to_owned(),
            ClusterCommand::RotateNodeKey { rotation } => super::node_key_fact(rotation.node),
            ClusterCommand::RetireNodeKey { node, .. } => super::retired_key_fact(*node),
            ClusterCommand::SetPolicy { name, .. } => {
                let mut key = String::with_capacity("policy/".len() + name.len());
                key.push_str("policy/");
                key.push_str(name);
                key
            }
        }
    }
}

//! What an operator credential may do: every HTTP route and every command kind names
//! the one scope it needs. Scopes are independent (none implies another).

use serde::{Deserialize, Serialize};

use super::ClusterCommand;

/// A permission an operator credential holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Read the state, members, candidates and requests (off loopback), and plan.
    Read,
    /// Submit and cancel inference requests.
    SubmitRequests,
    /// Set policies, the serving policy, residency, links, replica sets and backend
    /// readiness; hand leadership over.
    Operate,
    /// Change membership and roles, the authorization policy and the admission token.
    Admin,
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::SubmitRequests, Scope::Operate, Scope::Admin];

    /// The kebab-case name used in files, JSON and refusals.
    pub const fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::SubmitRequests => "submit-requests",
            Scope::Operate => "operate",
            Scope::Admin => "admin",
        }
    }
}

impl core::fmt::Display for Scope {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl ClusterCommand {
    /// The scope an operator needs to propose this command.
    pub fn scope(&self) -> Scope {
        match self {
            ClusterCommand::SetPolicy { name, .. } if name == super::AUTHORIZATION_POLICY_NAME => Scope::Admin,
            ClusterCommand::AdmitMember { .. }
            | ClusterCommand::PromoteVoter { .. }
            | ClusterCommand::RemoveMember { .. }
            | ClusterCommand::SetMemberStatus { .. }
            | ClusterCommand::SetRole { .. }
            | ClusterCommand::CutOverAdmissionToken { .. }
            | ClusterCommand::RotateNodeKey { .. }
            | ClusterCommand::RetireNodeKey { .. } => Scope::Admin,
            ClusterCommand::DeclareLink { .. }
            | ClusterCommand::SetArtifactResidency { .. }
            | ClusterCommand::SetBackendReadiness { .. }
            | ClusterCommand::DeclareReplicaSet { .. }
            | ClusterCommand::SetPolicy { .. }
            | ClusterCommand::SetServingPolicy { .. } => Scope::Operate,
        }
    }
}

//! Operator credential rotation as the cluster's authorization policy sees it: the
//! policy granting the next credential alongside the current one is committed, the
//! harness's operator moves to it, and a policy leaving the old one only what the
//! workload uses (`local` keeps its `operate` and below) is committed after.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use psionic_core::ClusterCommand;
use psionic_core::consensus::ProposalRejection;
use psionic_core::state::{AUTHORIZATION_POLICY_NAME, ApplyRefusal, AuthorizationPolicy, LOCAL_CREDENTIAL, Scope};

use super::SimCluster;
use crate::report::NotApplied;
use crate::trace::Fault;

/// Every scope.
const ALL_SCOPES: [Scope; 4] = [Scope::Read, Scope::SubmitRequests, Scope::Operate, Scope::Admin];

impl SimCluster {
    /// Moves the harness's operator from its credential to `next`, each policy
    /// committed within `within`; answers the credential left behind.
    pub async fn rotate_operator_credential(&mut self, next: &str, within: Duration) -> Result<String, NotApplied> {
        let old = self.operator_credential.clone();
        let overlap = policy([(old.as_str(), &ALL_SCOPES[..]), (next, &ALL_SCOPES[..])]);
        self.operator_command(overlap, within).await?;
        self.operator_credential = next.to_owned();
        let workload = [Scope::Read, Scope::SubmitRequests, Scope::Operate];
        let after = policy([(LOCAL_CREDENTIAL, &workload[..]), (next, &ALL_SCOPES[..])]);
        self.operator_command(after, within).await?;
        self.fault(Fault::OperatorCredential {
            from: old.clone(),
            to: next.to_owned(),
        });
        Ok(old)
    }

    /// An admin command under `credential`, no longer granted `admin`: it must be
    /// refused as not authorized, by the leader or (had it let it through) at apply.
    pub async fn expect_not_authorized(&mut self, credential: &str, within: Duration) -> Result<(), NotApplied> {
        let probe = policy([(credential, &ALL_SCOPES[..])]);
        match self.operator_command_as(credential, probe, within).await {
            Ok(committed) if matches!(committed.refusal, Some(ApplyRefusal::NotAuthorized { .. })) => Ok(()),
            Ok(_) => Err(NotApplied::NotRefused {
                node: format!("operator credential {credential}"),
            }),
            Err(NotApplied::Rejected {
                reason:
                    ProposalRejection::Invalid {
                        refusal: ApplyRefusal::NotAuthorized { .. },
                    },
            }) => Ok(()),
            Err(other) => Err(other),
        }
    }
}

/// The authorization policy granting each credential its scopes, as a command.
fn policy<'a>(grants: impl IntoIterator<Item = (&'a str, &'a [Scope])>) -> ClusterCommand {
    let credentials: BTreeMap<String, BTreeSet<Scope>> = grants
        .into_iter()
        .map(|(credential, scopes)| (credential.to_owned(), scopes.iter().copied().collect()))
        .collect();
    ClusterCommand::SetPolicy {
        name: AUTHORIZATION_POLICY_NAME.to_owned(),
        document: AuthorizationPolicy { credentials }.to_document(),
    }
}

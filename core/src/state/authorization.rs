//! The cluster's authorization policy: which operator credential may use which
//! scopes, committed as the policy named [`AUTHORIZATION_POLICY_NAME`] (postcard).
//! Once committed, every node checks each operator entry against it when it applies
//! it (and the leader before it appends): a credential it does not grant the scope is
//! refused alike everywhere. Without one, an entry's scope need only match its command.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{ClusterState, Scope};
use crate::digest::Digest;
use crate::limits::CREDENTIAL_ID_LEN_MAX;

/// The name of the policy document holding the authorization policy.
pub const AUTHORIZATION_POLICY_NAME: &str = "authorization";
/// Most credentials one authorization policy names.
pub const AUTHORIZED_CREDENTIALS_MAX: usize = 1_024;

/// Scopes by credential id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationPolicy {
    /// What each credential may do.
    pub credentials: BTreeMap<String, BTreeSet<Scope>>,
}

/// Why an authorization policy document was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum AuthorizationProblem {
    /// The document does not decode.
    #[error("the document does not decode as an authorization policy")]
    Undecodable,
    /// No credential holds `admin`: nobody could change the policy again.
    #[error("no credential holds admin")]
    NoAdmin,
    /// Too many credentials.
    #[error("{count} credentials; at most {max}")]
    TooMany {
        /// Credentials named.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// A credential id is empty or too long.
    #[error("a credential id of {len} bytes; 1 to {max} allowed")]
    CredentialId {
        /// Its length.
        len: usize,
        /// Limit.
        max: usize,
    },
}

impl AuthorizationPolicy {
    /// Its document.
    pub fn to_document(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding into a Vec is infallible")
    }

    /// The policy `document` holds, if valid.
    pub fn from_document(document: &[u8]) -> Result<Self, AuthorizationProblem> {
        let policy: Self = postcard::from_bytes(document).map_err(|_| AuthorizationProblem::Undecodable)?;
        let count = policy.credentials.len();
        if count > AUTHORIZED_CREDENTIALS_MAX {
            return Err(AuthorizationProblem::TooMany {
                count,
                max: AUTHORIZED_CREDENTIALS_MAX,
            });
        }
        if let Some(id) = policy
            .credentials
            .keys()
            .find(|id| id.is_empty() || id.len() > CREDENTIAL_ID_LEN_MAX)
        {
            return Err(AuthorizationProblem::CredentialId {
                len: id.len(),
                max: CREDENTIAL_ID_LEN_MAX,
            });
        }
        if !policy.credentials.values().any(|scopes| scopes.contains(&Scope::Admin)) {
            return Err(AuthorizationProblem::NoAdmin);
        }
        Ok(policy)
    }

    /// Whether `credential` may use `scope`.
    pub fn allows(&self, credential: &str, scope: Scope) -> bool {
        self.credentials
            .get(credential)
            .is_some_and(|scopes| scopes.contains(&scope))
    }
}

impl ClusterState {
    /// The authorization policy in force and its digest, if one is committed.
    pub fn authorization(&self) -> Option<(Digest, AuthorizationPolicy)> {
        let document = self.policies.get(AUTHORIZATION_POLICY_NAME)?;
        let policy = AuthorizationPolicy::from_document(&document.document).ok()?;
        Some((document.digest, policy))
    }
}

//! The rules a manifest must follow; each refusal names the field and what was expected.

use ed25519_dalek::VerifyingKey;
use psionic_core::digest::from_hex;
use psionic_core::identity::NamespaceError;
use psionic_core::{ClusterNamespace, NodeId};

use super::{MANIFEST_VERSION, RawManifest};

/// What a manifest field should have been.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestProblem {
    /// A version this build does not read.
    #[error("version {found} is not supported; expected {supported}")]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// The version read.
        supported: u32,
    },
    /// Not a valid namespace.
    #[error("{0}")]
    Namespace(NamespaceError),
    /// An empty value where one is needed.
    #[error("must not be empty")]
    Empty,
    /// No `[[node]]` at all.
    #[error("the manifest lists no nodes; expected at least one [[node]]")]
    NoNodes,
    /// No node is a genesis voter.
    #[error("no node has `voter = true`; a cluster needs at least one genesis voter")]
    NoVoters,
    /// Not 64 hex characters of a valid ed25519 point.
    #[error("expected an ed25519 public key as 64 hex characters (from `psionic-node init`)")]
    NotAPublicKey,
    /// The same value as an earlier field.
    #[error("duplicates {first}")]
    Duplicate {
        /// The earlier field.
        first: String,
    },
    /// A voter must be able to coordinate.
    #[error("an `executor` cannot be a voter; set role to `coordinator` or `both`, or `voter = false`")]
    VoterCannotCoordinate,
    /// A public operator API needs a token.
    #[error(
        "{addr} is not loopback; set `operator_token_file` or `operator_credentials_file` for this node, or bind to 127.0.0.1"
    )]
    OperatorNotLoopback {
        /// The address.
        addr: std::net::SocketAddr,
    },
    /// Timing values out of order.
    #[error(
        "expected heartbeat_interval_ms ({heartbeat_ms}) < election_timeout_ms_min ({min_ms}) < election_timeout_ms_max ({max_ms})"
    )]
    TimingOrder {
        /// Heartbeat.
        heartbeat_ms: u64,
        /// Floor.
        min_ms: u64,
        /// Ceiling.
        max_ms: u64,
    },
}

type Refusal = (String, ManifestProblem);

/// Checks every rule; returns each node's id, in file order.
pub(super) fn check(raw: &RawManifest) -> Result<Vec<NodeId>, Refusal> {
    let field = |name: &str| name.to_owned();
    if raw.manifest_version != MANIFEST_VERSION {
        return Err((
            field("manifest_version"),
            ManifestProblem::UnsupportedVersion {
                found: raw.manifest_version,
                supported: MANIFEST_VERSION,
            },
        ));
    }
    ClusterNamespace::new(&raw.namespace).map_err(|error| (field("namespace"), ManifestProblem::Namespace(error)))?;
    if raw.cluster_genesis.is_empty() {
        return Err((field("cluster_genesis"), ManifestProblem::Empty));
    }
    if let super::ManifestTrust::TrustedLan {
        admission_token_file, ..
    } = &raw.trust
        && admission_token_file.as_os_str().is_empty()
    {
        return Err((field("trust.admission_token_file"), ManifestProblem::Empty));
    }
    check_timing(raw)?;
    if raw.nodes.is_empty() {
        return Err((field("node"), ManifestProblem::NoNodes));
    }
    if !raw.nodes.iter().any(|node| node.voter) {
        return Err((field("node"), ManifestProblem::NoVoters));
    }
    let ids = raw
        .nodes
        .iter()
        .enumerate()
        .map(|(index, node)| check_node(index, node))
        .collect::<Result<Vec<_>, _>>()?;
    check_unique(raw, &ids)?;
    Ok(ids)
}

fn check_timing(raw: &RawManifest) -> Result<(), Refusal> {
    let config = psionic_core::ConsensusConfig::default().with_timing(raw.timing);
    let (heartbeat_ms, min_ms, max_ms) = (
        config.heartbeat_interval_ms,
        config.election_timeout_ms_min,
        config.election_timeout_ms_max,
    );
    if heartbeat_ms == 0 || heartbeat_ms >= min_ms || min_ms >= max_ms {
        return Err((
            "timing".to_owned(),
            ManifestProblem::TimingOrder {
                heartbeat_ms,
                min_ms,
                max_ms,
            },
        ));
    }
    Ok(())
}

fn check_node(index: usize, node: &super::ManifestNode) -> Result<NodeId, Refusal> {
    let field = |name: &str| format!("node[{index}].{name}");
    if node.name.is_empty() {
        return Err((field("name"), ManifestProblem::Empty));
    }
    let key = from_hex::<32>(node.public_key.trim())
        .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
        .ok_or((field("public_key"), ManifestProblem::NotAPublicKey))?;
    if node.voter && node.role == psionic_core::NodeRole::Executor {
        return Err((field("voter"), ManifestProblem::VoterCannotCoordinate));
    }
    let guarded = node.operator_token_file.is_some() || node.operator_credentials_file.is_some();
    if !node.operator_bind.ip().is_loopback() && !guarded {
        return Err((
            field("operator_bind"),
            ManifestProblem::OperatorNotLoopback {
                addr: node.operator_bind,
            },
        ));
    }
    Ok(NodeId::from_public_key(&key))
}

/// Names, keys, discovery addresses and data directories are each unique.
fn check_unique(raw: &RawManifest, ids: &[NodeId]) -> Result<(), Refusal> {
    const FIELDS: [&str; 4] = ["name", "public_key", "discovery_bind", "data_dir"];
    let values: Vec<[String; 4]> = raw
        .nodes
        .iter()
        .zip(ids)
        .map(|(node, id)| {
            [
                node.name.clone(),
                id.to_hex(),
                node.discovery_bind.to_string(),
                node.data_dir.display().to_string(),
            ]
        })
        .collect();
    for (position, name) in FIELDS.iter().enumerate() {
        for later in 1..values.len() {
            if let Some(first) = (0..later).find(|earlier| values[*earlier][position] == values[later][position]) {
                return Err((
                    format!("node[{later}].{name}"),
                    ManifestProblem::Duplicate {
                        first: format!("node[{first}].{name}"),
                    },
                ));
            }
        }
    }
    Ok(())
}

//! The operator manifest: one versioned file describing a whole cluster (namespace,
//! trust posture, nodes with their keys and roles, timing policy), from which each
//! node's settings are derived. Secrets are named by file, never inlined.
//!
//! ```toml
//! manifest_version = 1
//! namespace = "lab"
//! cluster_genesis = "lab-2026-11"
//!
//! [trust]
//! posture = "trusted-lan"                  # or "configured-peers": keys come from [[node]]
//! admission_token_file = "token"
//! # admission_token_next_file = "token.next"  # a rotation's next token, until cut over
//!
//! [attestation]                            # optional: admit only nodes running these binaries
//! allowed_binary_sha256 = ["<64 hex>"]     # as `sha256sum psionic-node` prints it
//!
//! [timing]                                 # optional
//! heartbeat_interval_ms = 100
//! election_timeout_ms_min = 500
//! election_timeout_ms_max = 1000
//!
//! [[node]]
//! name = "n1"
//! public_key = "<64 hex>"                  # from `psionic-node init`
//! role = "both"                            # coordinator | executor | both
//! voter = true                             # a genesis voter (needs a coordinator role)
//! discovery_bind = "127.0.0.1:7400"
//! stream_port = 7401
//! operator_bind = "127.0.0.1:7480"
//! operator_token_file = "operator-token"   # optional
//! operator_credentials_file = "credentials.toml"   # optional: named tokens with scopes
//! operator_tls = { cert_file = "n1.crt", key_file = "n1.key" }   # optional: HTTPS
//! data_dir = "n1"
//! reference_models = ["<64 hex>"]          # optional: reference models it reports resident
//! ```

mod settings;
#[cfg(test)]
mod tests;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use psionic_core::consensus::TimingOverrides;
use psionic_core::digest::{Digest, DigestKind};
use psionic_core::{NodeId, NodeRole};
use serde::{Deserialize, Serialize};

pub use settings::NodeFromManifestError;
pub use validate::ManifestProblem;

/// The manifest version this build reads.
pub const MANIFEST_VERSION: u32 = 1;

/// A manifest as written, before validation.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    manifest_version: u32,
    namespace: String,
    cluster_genesis: String,
    trust: ManifestTrust,
    #[serde(default)]
    timing: TimingOverrides,
    #[serde(default, rename = "node")]
    nodes: Vec<ManifestNode>,
    #[serde(default)]
    attestation: crate::config_file::RawAttestation,
}

/// The trust posture, with secrets by file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, tag = "posture", rename_all = "kebab-case")]
pub enum ManifestTrust {
    /// A shared admission token.
    TrustedLan {
        /// The owner-only file holding it.
        admission_token_file: PathBuf,
        /// The owner-only file holding the token that replaces it, accepted alongside
        /// until the cluster commits a cut-over to it.
        #[serde(default)]
        admission_token_next_file: Option<PathBuf>,
    },
    /// Every node pins every other node's public key.
    ConfiguredPeers,
}

/// One node of the cluster.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ManifestNode {
    /// Its name in this manifest.
    pub name: String,
    /// Its ed25519 public key (64 hex characters).
    pub public_key: String,
    /// Its role.
    pub role: NodeRole,
    /// Whether it is a genesis voter.
    #[serde(default)]
    pub voter: bool,
    /// Where its discovery listens.
    pub discovery_bind: SocketAddr,
    /// Port of its peer-stream listener, on the discovery IP.
    pub stream_port: u16,
    /// Where its operator API listens.
    pub operator_bind: SocketAddr,
    /// The owner-only file holding its operator token.
    pub operator_token_file: Option<PathBuf>,
    /// Its operator credentials file (named tokens with scopes, hashed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_credentials_file: Option<PathBuf>,
    /// Its operator API's certificate and key, for HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_tls: Option<crate::config_file::RawOperatorTls>,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// The reference models it holds and reports resident (it has no models
    /// directory).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub reference_models: std::collections::BTreeSet<Digest>,
}

/// A validated manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    raw: RawManifest,
    ids: Vec<NodeId>,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{path}: cannot read manifest: {source}", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// Not TOML, an unknown field, or a value of the wrong type (the message names the
    /// line, column and field).
    #[error("{path}: {source}", path = path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: toml::de::Error,
    },
    /// A field breaks a rule.
    #[error("{path}: {field}: {problem}", path = path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Path of the field, such as `node[1].public_key`.
        field: String,
        /// What was expected.
        problem: ManifestProblem,
    },
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse(&text).map_err(|error| error.at(path))
    }

    /// Parses and validates manifest `text`.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|source| ManifestError::Parse {
            path: PathBuf::new(),
            source,
        })?;
        let ids = validate::check(&raw).map_err(|(field, problem)| ManifestError::Invalid {
            path: PathBuf::new(),
            field,
            problem,
        })?;
        Ok(Self { raw, ids })
    }

    /// The rollout digest: SHA-256 (manifest domain) over the canonical form, which is
    /// the validated manifest re-encoded as JSON with nodes in id order. Formatting,
    /// comments and the order of nodes in the file do not change it.
    pub fn rollout_digest(&self) -> Digest {
        let mut canonical = self.raw.clone();
        let mut order: Vec<(NodeId, ManifestNode)> = self.ids.iter().copied().zip(canonical.nodes).collect();
        order.sort_by_key(|(id, _)| *id);
        canonical.nodes = order.into_iter().map(|(_, node)| node).collect();
        let json = serde_json::to_vec(&canonical).expect("manifests encode");
        Digest::of_bytes(DigestKind::Manifest, &json)
    }

    /// The nodes, in file order, with their ids.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &ManifestNode)> {
        self.ids.iter().copied().zip(self.raw.nodes.iter())
    }

    /// The cluster namespace.
    pub fn namespace(&self) -> &str {
        &self.raw.namespace
    }

    /// The trust posture.
    pub fn trust(&self) -> &ManifestTrust {
        &self.raw.trust
    }

    /// The binaries a node must run to be admitted (empty: any).
    pub fn allowed_binaries(&self) -> std::collections::BTreeSet<psionic_core::attestation::BinaryDigest> {
        self.raw.attestation.allowed()
    }

    /// The timing policy.
    pub fn timing(&self) -> TimingOverrides {
        self.raw.timing
    }

    /// The cluster genesis value.
    pub fn cluster_genesis(&self) -> &str {
        &self.raw.cluster_genesis
    }
}

impl ManifestError {
    fn at(self, file: &Path) -> Self {
        match self {
            ManifestError::Parse { source, .. } => ManifestError::Parse {
                path: file.into(),
                source,
            },
            ManifestError::Invalid { field, problem, .. } => ManifestError::Invalid {
                path: file.into(),
                field,
                problem,
            },
            read => read,
        }
    }
}

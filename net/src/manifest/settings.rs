//! One node's settings, derived from the manifest.

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use psionic_core::digest::from_hex;
use psionic_core::{ClusterNamespace, ConsensusConfig, DiscoveryConfig, TrustPosture};

use super::{Manifest, ManifestTrust};
use crate::clock::Clock;
use crate::config_file::{AdmissionTokenFiles, ConfigFile, ConfigFileError};
use crate::runtime::NodeSettings;

/// Why a node's settings could not be derived.
#[derive(Debug, thiserror::Error)]
pub enum NodeFromManifestError {
    /// No `[[node]]` has that name.
    #[error("the manifest has no node named {name:?}; it lists {known}")]
    UnknownNode {
        /// The name asked for.
        name: String,
        /// The names it has.
        known: String,
    },
    /// A secret file named by the manifest could not be used.
    #[error(transparent)]
    Secret(#[from] ConfigFileError),
}

impl Manifest {
    /// The settings of node `name`; relative paths are relative to `base` (the
    /// manifest's directory).
    pub fn node_config(&self, base: &Path, name: &str) -> Result<ConfigFile, NodeFromManifestError> {
        let (_, node) =
            self.nodes()
                .find(|(_, node)| node.name == name)
                .ok_or_else(|| NodeFromManifestError::UnknownNode {
                    name: name.to_owned(),
                    known: self
                        .nodes()
                        .map(|(_, node)| node.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        let admission_token_files = match self.trust() {
            ManifestTrust::TrustedLan {
                admission_token_file,
                admission_token_next_file,
            } => Some(AdmissionTokenFiles::new(
                base,
                admission_token_file,
                admission_token_next_file.as_deref(),
            )),
            ManifestTrust::ConfiguredPeers => None,
        };
        let posture = match &admission_token_files {
            Some(files) => files.load()?,
            None => TrustPosture::ConfiguredPeers {
                peers: self
                    .nodes()
                    .filter(|(_, other)| other.name != name)
                    .map(|(_, other)| {
                        let bytes = from_hex::<32>(other.public_key.trim()).expect("validated");
                        VerifyingKey::from_bytes(&bytes).expect("validated")
                    })
                    .collect(),
            },
        };
        let credential_sources = crate::config_file::CredentialSources::new(
            base,
            node.operator_token_file.as_deref(),
            node.operator_credentials_file.as_deref(),
        );
        let credentials = credential_sources.load()?;
        let consensus = ConsensusConfig {
            initial_voters: self
                .nodes()
                .filter(|(_, node)| node.voter)
                .map(|(id, node)| (id, node.role))
                .collect(),
            admit_only: self.nodes().map(|(id, _)| id).collect(),
            allowed_binaries: self.allowed_binaries(),
            ..ConsensusConfig::default()
        }
        .with_timing(self.timing());
        let settings = NodeSettings {
            data_dir: base.join(&node.data_dir),
            namespace: ClusterNamespace::new(self.namespace()).expect("validated"),
            cluster_genesis: self.cluster_genesis().as_bytes().to_vec(),
            role: node.role,
            posture,
            discovery_bind: node.discovery_bind,
            stream_port: node.stream_port,
            seeds: self
                .nodes()
                .filter(|(_, other)| other.name != name)
                .map(|(_, other)| other.discovery_bind)
                .collect(),
            discovery: DiscoveryConfig::default(),
            consensus,
            clock: Clock::new(),
            mutations: Default::default(),
            devices: Default::default(),
            executor: std::sync::Arc::new(
                crate::execute::ReferenceExecutor::cpu().holding(node.reference_models.clone()),
            ),
            artifacts: None,
            artifact_disk: None,
            state_watch_ms_min: crate::runtime::STATE_WATCH_MS_MIN_DEFAULT,
            binary: None,
        };
        Ok(ConfigFile {
            settings,
            operator_bind: node.operator_bind,
            credentials,
            operator_tls: crate::config_file::operator_tls(base, node.operator_tls.as_ref())?,
        })
    }
}

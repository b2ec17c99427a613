//! The node's TOML configuration file.
//!
//! ```toml
//! data_dir = "/var/lib/psionic"          # relative paths are relative to this file
//! namespace = "lab"
//! cluster_genesis = "lab-2026-11"        # fixed when the cluster is created
//! role = "both"                          # coordinator | executor | both
//! discovery_bind = "127.0.0.1:7400"
//! stream_port = 7401                     # peer streams, on the discovery IP (0: any)
//! operator_bind = "127.0.0.1:7480"       # loopback, unless an operator token is set
//! operator_token_file = "operator-token" # owner-only file, >= 16 bytes: a token with every scope
//! operator_credentials_file = "credentials.toml"  # optional: named tokens with scopes (hashed)
//! operator_tls = { cert_file = "operator.crt", key_file = "operator.key" }  # optional: HTTPS
//! seeds = ["127.0.0.1:7401"]
//!
//! [trust]
//! posture = "trusted-lan"                # or "configured-peers"
//! admission_token_file = "token"         # trusted-lan: owner-only file, >= 16 bytes
//! # admission_token_next_file = "token.next"  # a rotation's next token, until cut over
//! # peer_public_keys = ["<64 hex>", ...]  # configured-peers: pinned ed25519 keys
//!
//! [discovery]                            # optional; defaults shown in `DiscoveryConfig`
//! probe_interval_ms = 500
//! link_probe_interval_ms = 30000         # bandwidth probe of each peer's stream
//! link_probe_frames = 8                  # frames per probe; 0 turns bandwidth probes off
//! link_probe_frame_bytes = 57344         # filler in each frame, 1..=57344
//!
//! [devices]                              # optional
//! probe_interval_ms = 30000              # time between two CUDA driver probes
//!
//! [executor]                             # optional, without [artifacts]
//! reference_step_ms = 0                  # time each step of the CPU reference model takes
//! reference_models = ["<64 hex>"]        # reference models this node holds and reports resident
//!
//! [artifacts]                            # optional: run the models in this directory
//! dir = "models"                         # one subdirectory per model (config.json, model.safetensors)
//! scan_interval_ms = 10000               # time between two scans (files are hashed once)
//!
//! [consensus]                            # every node lists the same genesis voters
//! initial_voters = [{ node_id = "<32 hex>", role = "both" }]
//! heartbeat_interval_ms = 100            # optional, as are the election timeouts
//! admit_only = ["<32 hex>"]              # optional: the only ids admitted without an operator
//!                                        # (default: none; the pinned keys' nodes under configured-peers)
//!
//! [attestation]                          # optional: admit only nodes running these binaries
//! allowed_binary_sha256 = ["<64 hex>"]   # as `sha256sum psionic-node` prints it
//! ```

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use psionic_core::attestation::BinaryDigest;
use psionic_core::consensus::TimingOverrides;
use psionic_core::digest::from_hex;
use psionic_core::{ClusterNamespace, ConsensusConfig, DiscoveryConfig, NodeId, NodeRole, TrustPosture};
use rustls::ServerConfig;
use serde::{Deserialize, Serialize};

mod admission;
mod artifacts;

pub use admission::AdmissionTokenFiles;
pub use artifacts::{ArtifactsConfigError, SCAN_INTERVAL_MS_MIN};

use crate::clock::Clock;
use crate::devices::{DeviceSource, PROBE_INTERVAL_MS_DEFAULT, PROBE_INTERVAL_MS_MIN};
use crate::http::{Credentials, OPERATOR_TOKEN_ID, TOKEN_LEN_MIN};
use crate::runtime::NodeSettings;

/// The file as written by an operator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: PathBuf,
    namespace: ClusterNamespace,
    cluster_genesis: String,
    role: NodeRole,
    discovery_bind: SocketAddr,
    #[serde(default)]
    stream_port: u16,
    operator_bind: SocketAddr,
    operator_token_file: Option<PathBuf>,
    operator_credentials_file: Option<PathBuf>,
    operator_tls: Option<RawOperatorTls>,
    #[serde(default)]
    seeds: Vec<SocketAddr>,
    trust: RawTrust,
    #[serde(default)]
    discovery: RawDiscovery,
    #[serde(default)]
    consensus: RawConsensus,
    #[serde(default)]
    devices: RawDevices,
    #[serde(default)]
    executor: RawExecutor,
    #[serde(default)]
    artifacts: artifacts::RawArtifacts,
    #[serde(default)]
    attestation: RawAttestation,
}

/// `[attestation]` of a configuration or a manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttestation {
    /// The binaries (SHA-256, as `sha256sum` prints it) a node must run to be
    /// admitted; empty or absent: any.
    #[serde(default)]
    pub allowed_binary_sha256: Vec<BinaryDigest>,
}

impl RawAttestation {
    /// The allowlist.
    pub fn allowed(&self) -> std::collections::BTreeSet<BinaryDigest> {
        self.allowed_binary_sha256.iter().copied().collect()
    }
}

/// The operator API's certificate chain and private key, PEM files.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOperatorTls {
    /// The chain, leaf first.
    pub cert_file: PathBuf,
    /// The leaf's private key.
    pub key_file: PathBuf,
}

/// Where a node's operator credentials come from.
#[derive(Clone, Debug, Default)]
pub struct CredentialSources {
    /// `operator_token_file`: one token holding every scope.
    pub token_file: Option<PathBuf>,
    /// `operator_credentials_file`: named tokens with scopes.
    pub credentials_file: Option<PathBuf>,
}

impl CredentialSources {
    /// The files named, relative to `base`.
    pub fn new(base: &Path, token_file: Option<&Path>, credentials_file: Option<&Path>) -> Self {
        Self {
            token_file: token_file.map(|file| base.join(file)),
            credentials_file: credentials_file.map(|file| base.join(file)),
        }
    }

    /// The credentials the files hold now.
    pub fn load(&self) -> Result<Credentials, ConfigFileError> {
        let mut credentials = Credentials::default();
        if let Some(file) = &self.token_file {
            let secret = read_secret(file, SecretFile::OperatorToken, TOKEN_LEN_MIN)?;
            credentials = credentials.with(Credentials::all_scopes(OPERATOR_TOKEN_ID, &secret));
        }
        if let Some(file) = &self.credentials_file {
            credentials = credentials.with(Credentials::load(file)?);
        }
        Ok(credentials)
    }
}

/// The TLS configuration `raw` names, its paths relative to `base`.
pub fn operator_tls(base: &Path, raw: Option<&RawOperatorTls>) -> Result<Option<Arc<ServerConfig>>, ConfigFileError> {
    let Some(raw) = raw else { return Ok(None) };
    let config = crate::http::tls::server_config(&base.join(&raw.cert_file), &base.join(&raw.key_file))?;
    Ok(Some(config))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExecutor {
    reference_step_ms: Option<u64>,
    #[serde(default)]
    reference_models: std::collections::BTreeSet<psionic_core::Digest>,
}

/// Longest step the reference executor may be told to take.
pub const REFERENCE_STEP_MS_MAX: u64 = 10_000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevices {
    probe_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsensus {
    #[serde(default)]
    initial_voters: Vec<RawVoter>,
    heartbeat_interval_ms: Option<u64>,
    election_timeout_ms_min: Option<u64>,
    election_timeout_ms_max: Option<u64>,
    snapshot_after_entries: Option<u64>,
    snapshot_after_bytes: Option<u64>,
    admit_only: Option<Vec<NodeId>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVoter {
    node_id: NodeId,
    role: NodeRole,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "posture", rename_all = "kebab-case")]
enum RawTrust {
    TrustedLan {
        admission_token_file: PathBuf,
        admission_token_next_file: Option<PathBuf>,
    },
    ConfiguredPeers {
        peer_public_keys: Vec<String>,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscovery {
    probe_interval_ms: Option<u64>,
    degraded_after_missed_probes: Option<u32>,
    unreachable_after_missed_probes: Option<u32>,
    peer_expiry_ms: Option<u64>,
    dial_backoff_ms_max: Option<u64>,
    link_probe_interval_ms: Option<u64>,
    link_probe_frames: Option<u16>,
    link_probe_frame_bytes: Option<u32>,
}

/// A configuration file resolved into settings.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// Settings of the node.
    pub settings: NodeSettings,
    /// Where the operator API listens.
    pub operator_bind: SocketAddr,
    /// The operator credentials the API accepts.
    pub credentials: Credentials,
    /// TLS for the operator API, if configured.
    pub operator_tls: Option<Arc<ServerConfig>>,
}

/// Which secret file an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretFile {
    /// `trust.admission_token_file` or `admission_token_next_file`.
    AdmissionToken,
    /// `operator_token_file`.
    OperatorToken,
}

impl std::fmt::Display for SecretFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecretFile::AdmissionToken => "admission token",
            SecretFile::OperatorToken => "operator token",
        })
    }
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("{path}: cannot read configuration: {source}", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key, or a bad value (the message names the
    /// line and column).
    #[error("{path}: {source}", path = path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Parser error with its location.
        source: toml::de::Error,
    },
    /// A token file could not be read.
    #[error("{path}: cannot read {secret} file: {source}", path = path.display())]
    TokenRead {
        /// Which token.
        secret: SecretFile,
        /// The token file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A token file is readable by others.
    #[error("{path}: {secret} file has mode {mode:o}; it must be readable by its owner only (chmod 600)", path = path.display())]
    TokenPermissions {
        /// Which token.
        secret: SecretFile,
        /// The token file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A token is too short.
    #[error("{path}: {secret} is {len} bytes, at least {min} are required", path = path.display())]
    TokenTooShort {
        /// Which token.
        secret: SecretFile,
        /// The token file.
        path: PathBuf,
        /// Its length.
        len: usize,
        /// Minimum.
        min: usize,
    },
    /// A pinned key is not 32 bytes of hex, or not a valid ed25519 point.
    #[error("{path}: trust.peer_public_keys[{index}] is not a valid ed25519 public key (64 hex characters)", path = path.display())]
    BadPublicKey {
        /// The config file.
        path: PathBuf,
        /// Index in the list.
        index: usize,
    },
    /// CUDA probes this frequent would load the driver for nothing.
    #[error("{path}: devices.probe_interval_ms is {given_ms}, at least {min_ms} is required", path = path.display())]
    ProbeIntervalTooShort {
        /// The config file.
        path: PathBuf,
        /// Interval given.
        given_ms: u64,
        /// Shortest accepted.
        min_ms: u64,
    },
    /// A reference step this long would hold a request for hours.
    #[error("{path}: executor.reference_step_ms is {given_ms}, at most {max_ms} is accepted", path = path.display())]
    ReferenceStepTooLong {
        /// The config file.
        path: PathBuf,
        /// Step given.
        given_ms: u64,
        /// Longest accepted.
        max_ms: u64,
    },
    /// `[artifacts]` cannot be used.
    #[error("{path}: {error}", path = path.display())]
    Artifacts {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        error: ArtifactsConfigError,
    },
    /// The operator credentials file cannot be used.
    #[error(transparent)]
    Credentials(#[from] crate::http::credentials::CredentialsError),
    /// The operator API's certificate or key cannot be used.
    #[error(transparent)]
    OperatorTls(#[from] crate::http::tls::TlsError),
    /// The operator API may leave loopback only behind a token.
    #[error("{path}: operator_bind {addr} is not a loopback address and no operator_token_file or operator_credentials_file is set; set one, or bind to 127.0.0.1", path = path.display())]
    OperatorNotLoopback {
        /// The config file.
        path: PathBuf,
        /// Address given.
        addr: SocketAddr,
    },
}

impl ConfigFile {
    /// Reads and resolves the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: path.into(),
            source,
        })?;
        let raw: RawConfig = toml::from_str(&text).map_err(|source| ConfigFileError::Parse {
            path: path.into(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let guarded = raw.operator_token_file.is_some() || raw.operator_credentials_file.is_some();
        if !raw.operator_bind.ip().is_loopback() && !guarded {
            return Err(ConfigFileError::OperatorNotLoopback {
                path: path.into(),
                addr: raw.operator_bind,
            });
        }
        let operator_tls = operator_tls(base, raw.operator_tls.as_ref())?;
        let credential_sources = CredentialSources::new(
            base,
            raw.operator_token_file.as_deref(),
            raw.operator_credentials_file.as_deref(),
        );
        let credentials = credential_sources.load()?;
        let posture = resolve_trust(path, base, raw.trust)?;
        let probe_interval_ms = raw.devices.probe_interval_ms.unwrap_or(PROBE_INTERVAL_MS_DEFAULT);
        if probe_interval_ms < PROBE_INTERVAL_MS_MIN {
            return Err(ConfigFileError::ProbeIntervalTooShort {
                path: path.into(),
                given_ms: probe_interval_ms,
                min_ms: PROBE_INTERVAL_MS_MIN,
            });
        }
        let (executor, artifacts) = artifacts::resolve(path, base, raw.artifacts, &raw.executor)?;
        let mut consensus = raw.consensus.resolve(&posture);
        consensus.allowed_binaries = raw.attestation.allowed();
        let settings = NodeSettings {
            data_dir: base.join(raw.data_dir),
            namespace: raw.namespace,
            cluster_genesis: raw.cluster_genesis.into_bytes(),
            role: raw.role,
            posture,
            discovery_bind: raw.discovery_bind,
            stream_port: raw.stream_port,
            seeds: raw.seeds,
            discovery: raw.discovery.resolve(),
            consensus,
            clock: Clock::new(),
            mutations: Default::default(),
            devices: DeviceSource::Probe {
                every_ms: probe_interval_ms,
            },
            executor,
            artifacts,
            artifact_disk: None,
            state_watch_ms_min: crate::runtime::STATE_WATCH_MS_MIN_DEFAULT,
            binary: None,
        };
        Ok(Self {
            settings,
            operator_bind: raw.operator_bind,
            credentials,
            operator_tls,
        })
    }
}

/// The built-in CPU reference executor, each step taking `reference_step_ms`, holding
/// `reference_models`.
fn reference_executor(
    path: &Path,
    raw: &RawExecutor,
) -> Result<std::sync::Arc<dyn crate::execute::Executor>, ConfigFileError> {
    let step_ms = raw.reference_step_ms.unwrap_or(0);
    if step_ms > REFERENCE_STEP_MS_MAX {
        return Err(ConfigFileError::ReferenceStepTooLong {
            path: path.into(),
            given_ms: step_ms,
            max_ms: REFERENCE_STEP_MS_MAX,
        });
    }
    let executor = crate::execute::ReferenceExecutor::cpu()
        .with_step_time(std::time::Duration::from_millis(step_ms))
        .holding(raw.reference_models.clone());
    Ok(std::sync::Arc::new(executor))
}

impl RawDiscovery {
    fn resolve(self) -> DiscoveryConfig {
        let defaults = DiscoveryConfig::default();
        DiscoveryConfig {
            probe_interval_ms: self.probe_interval_ms.unwrap_or(defaults.probe_interval_ms),
            degraded_after_missed_probes: self
                .degraded_after_missed_probes
                .unwrap_or(defaults.degraded_after_missed_probes),
            unreachable_after_missed_probes: self
                .unreachable_after_missed_probes
                .unwrap_or(defaults.unreachable_after_missed_probes),
            peer_expiry_ms: self.peer_expiry_ms.unwrap_or(defaults.peer_expiry_ms),
            dial_backoff_ms_max: self.dial_backoff_ms_max.unwrap_or(defaults.dial_backoff_ms_max),
            link_probe_interval_ms: self.link_probe_interval_ms.unwrap_or(defaults.link_probe_interval_ms),
            link_probe_frames: self.link_probe_frames.unwrap_or(defaults.link_probe_frames),
            link_probe_frame_bytes: self.link_probe_frame_bytes.unwrap_or(defaults.link_probe_frame_bytes),
            ..defaults
        }
    }
}

impl RawConsensus {
    /// The consensus settings; without `admit_only`, the pinned keys' nodes under
    /// configured-peers (the list is the allowlist) and no one under trusted-LAN.
    fn resolve(self, posture: &TrustPosture) -> ConsensusConfig {
        let pinned = match posture {
            TrustPosture::ConfiguredPeers { peers } => peers.iter().map(NodeId::from_public_key).collect(),
            TrustPosture::TrustedLan { .. } => Default::default(),
        };
        let defaults = ConsensusConfig::default();
        ConsensusConfig {
            initial_voters: self
                .initial_voters
                .into_iter()
                .map(|voter| (voter.node_id, voter.role))
                .collect(),
            snapshot_after_entries: self.snapshot_after_entries.unwrap_or(defaults.snapshot_after_entries),
            snapshot_after_bytes: self.snapshot_after_bytes.unwrap_or(defaults.snapshot_after_bytes),
            admit_only: self.admit_only.map_or(pinned, |ids| ids.into_iter().collect()),
            ..defaults
        }
        .with_timing(TimingOverrides {
            heartbeat_interval_ms: self.heartbeat_interval_ms,
            election_timeout_ms_min: self.election_timeout_ms_min,
            election_timeout_ms_max: self.election_timeout_ms_max,
        })
    }
}

fn resolve_trust(config_path: &Path, base: &Path, trust: RawTrust) -> Result<TrustPosture, ConfigFileError> {
    match trust {
        RawTrust::TrustedLan {
            admission_token_file,
            admission_token_next_file,
        } => AdmissionTokenFiles::new(base, &admission_token_file, admission_token_next_file.as_deref()).load(),
        RawTrust::ConfiguredPeers { peer_public_keys } => {
            let peers = peer_public_keys
                .iter()
                .enumerate()
                .map(|(index, text)| {
                    from_hex::<32>(text.trim())
                        .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
                        .ok_or(ConfigFileError::BadPublicKey {
                            path: config_path.into(),
                            index,
                        })
                })
                .collect::<Result<_, _>>()?;
            Ok(TrustPosture::ConfiguredPeers { peers })
        }
    }
}

/// The secret in the owner-only file at `path`, without trailing whitespace, at least
/// `len_min` bytes long.
pub(crate) fn read_secret(path: &Path, secret: SecretFile, len_min: usize) -> Result<Vec<u8>, ConfigFileError> {
    let read_error = |source| ConfigFileError::TokenRead {
        secret,
        path: path.into(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(read_error)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ConfigFileError::TokenPermissions {
            secret,
            path: path.into(),
            mode,
        });
    }
    let mut bytes = std::fs::read(path).map_err(read_error)?;
    while bytes.last().is_some_and(u8::is_ascii_whitespace) {
        bytes.pop();
    }
    if bytes.len() < len_min {
        return Err(ConfigFileError::TokenTooShort {
            secret,
            path: path.into(),
            len: bytes.len(),
            min: len_min,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;

//! `verify-capabilities`: checks a node's signed capabilities document offline.

use std::collections::BTreeMap;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use psionic_core::NodeId;
use psionic_net::capabilities::SignedCapabilities;
use psionic_net::manifest::Manifest;

use crate::cli::{Failed, Failure};

/// Whom and what the verifier trusts.
pub struct Expected<'a> {
    /// The cluster's manifest: every node's key.
    pub manifest: Option<&'a Path>,
    /// Trusted keys, hex.
    pub keys: &'a [String],
    /// Binary digests allowed (none: any).
    pub binaries: &'a [String],
}

pub fn verify(file: &Path, expected: &Expected<'_>) -> Result<(), Failed> {
    let text = std::fs::read_to_string(file)
        .map_err(|error| (Failure::Usage, format!("{}: cannot read: {error}", file.display())))?;
    let signed: SignedCapabilities = serde_json::from_str(&text).map_err(|error| {
        (
            Failure::Usage,
            format!("{}: not a capabilities document: {error}", file.display()),
        )
    })?;
    let trusted = trusted_keys(expected)?;
    signed
        .verify(trusted.as_ref())
        .map_err(|refusal| (Failure::Refused, format!("capabilities refused: {refusal}")))?;
    let document = &signed.capabilities;
    let binary = &document.measurement.binary_sha256;
    if !expected.binaries.is_empty() && !expected.binaries.iter().any(|allowed| allowed.trim() == binary) {
        let message = format!("capabilities refused: binary {binary} is not among the allowed ones");
        return Err((Failure::Refused, message));
    }
    println!(
        "verified  node {} epoch {} of cluster {}",
        document.node_id, document.epoch, document.cluster_id
    );
    println!(
        "trust     {} ({})",
        document.trust.bundle.posture, document.trust_digest
    );
    println!("binary    {binary}");
    println!("config    {}", document.measurement.config_sha256);
    println!(
        "state     {} at index {}",
        document.committed.state_digest, document.committed.applied_index
    );
    let backends: Vec<String> = document.backends.keys().map(|backend| format!("{backend:?}")).collect();
    println!("backends  {}", backends.join(", ").to_lowercase());
    Ok(())
}

fn trusted_keys(expected: &Expected<'_>) -> Result<Option<BTreeMap<NodeId, VerifyingKey>>, Failed> {
    let mut keys = BTreeMap::new();
    if let Some(path) = expected.manifest {
        let manifest = Manifest::load(path).map_err(|error| (Failure::Config, error.to_string()))?;
        keys.extend(crate::evidence::manifest_keys(&manifest));
    }
    // A key given wins over the manifest's (a node whose key was rotated since).
    keys.extend(crate::evidence::given_keys(expected.keys)?);
    Ok((!keys.is_empty()).then_some(keys))
}

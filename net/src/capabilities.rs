//! A node's published capabilities: what it is, what it runs and under which trust,
//! signed with its node key so anyone can check offline who said it
//! (`psionic-node verify-capabilities`).
//!
//! The measurement is software only: the SHA-256 of the binary the node runs and of
//! the configuration it started from, as the node itself read them, signed by its
//! key. It shows what a node with that key claims, not what hardware enforces; the
//! document leaves room for a hardware quote (`quote`, absent today).

use std::collections::BTreeMap;
use std::path::Path;

use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use psionic_core::backend::ReadinessByBackend;
use psionic_core::digest::{Digest, DigestKind};
use psionic_core::trust::TrustBundle;
use psionic_core::{ClusterId, NodeEpoch, NodeId, NodeIdentity};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// What a node measured of itself at start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measurement {
    /// SHA-256 of the executable it runs.
    pub binary_sha256: String,
    /// SHA-256 of the configuration file (or manifest) it started from.
    pub config_sha256: String,
    /// A hardware attestation quote; none today.
    pub quote: Option<String>,
}

impl Measurement {
    /// The binary's SHA-256, if it was read.
    pub fn binary_digest(&self) -> Option<psionic_core::attestation::BinaryDigest> {
        psionic_core::digest::from_hex::<32>(&self.binary_sha256).map(psionic_core::attestation::BinaryDigest)
    }

    /// The running executable's and `config`'s SHA-256 (empty digests of files it
    /// cannot read).
    pub fn of_this_process(config: &Path) -> Self {
        let digest = |path: &Path| std::fs::read(path).map(|bytes| hex::encode(Sha256::digest(bytes)));
        // The running image itself (Linux), not whatever now sits at its path.
        let binary =
            digest(Path::new("/proc/self/exe")).or_else(|_| std::env::current_exe().and_then(|exe| digest(&exe)));
        Self {
            binary_sha256: binary.unwrap_or_default(),
            config_sha256: digest(config).unwrap_or_default(),
            quote: None,
        }
    }
}

/// The trust anchors a node runs under (no secret, nor anything derived from one): the
/// bundle every node configures alike, whose digest its hellos carry, and the anchors
/// the log commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustAnchors {
    /// Posture, the nodes whose keys are pinned (the node's own included), allowed
    /// binaries.
    pub bundle: TrustBundle,
    /// Digest of the authorization policy in force, if one is committed.
    pub authorization_policy: Option<Digest>,
    /// Public digest of the admission token in force (trusted LAN): the one the
    /// cluster cut over to, else the one configured.
    pub admission_token: Option<Digest>,
}

impl TrustAnchors {
    /// The trust digest: the bundle's, as the node's hellos carry it.
    pub fn digest(&self) -> Digest {
        self.bundle.digest()
    }
}

/// What the document says of the committed state when it was signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedDigests {
    /// The index applied.
    pub applied_index: u64,
    /// The state digest there.
    pub state_digest: Digest,
}

/// The published document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The node.
    pub node_id: NodeId,
    /// Its life.
    pub epoch: NodeEpoch,
    /// Its cluster.
    pub cluster_id: ClusterId,
    /// Its trust anchors.
    pub trust: TrustAnchors,
    /// Their digest.
    pub trust_digest: Digest,
    /// What it runs.
    pub measurement: Measurement,
    /// Its backends and execution profiles, as the cluster committed them.
    pub backends: ReadinessByBackend,
    /// The committed state it had applied.
    pub committed: CommittedDigests,
}

/// A document signed by the node it describes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCapabilities {
    /// The document.
    pub capabilities: Capabilities,
    /// The node's public key, hex.
    pub public_key: String,
    /// ed25519 over SHA-256 (capabilities domain) of the document's postcard encoding, hex.
    pub signature: String,
}

/// Why a capabilities document was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapabilitiesRefusal {
    /// The key is not an ed25519 public key, or the signature not one.
    #[error("malformed key or signature")]
    Malformed,
    /// The key is not the one the document's node id names.
    #[error("the key is {key_node}'s, the document names {node}")]
    KeyMismatch {
        /// The node the key belongs to.
        key_node: NodeId,
        /// The node the document names.
        node: NodeId,
    },
    /// The signature does not verify over the document.
    #[error("the signature does not verify over the document")]
    Signature,
    /// The trust digest is not the anchors' digest.
    #[error("trust digest {claimed} is not the anchors' {computed}")]
    TrustDigest {
        /// As published.
        claimed: Digest,
        /// Computed from the anchors.
        computed: Digest,
    },
    /// The node is not among the keys the verifier trusts.
    #[error("{node} is not among the trusted keys")]
    Untrusted {
        /// The node.
        node: NodeId,
    },
}

fn signed_digest(capabilities: &Capabilities) -> Digest {
    let bytes = postcard::to_allocvec(capabilities).expect("postcard encoding into a Vec is infallible");
    Digest::of_bytes(DigestKind::Capabilities, &bytes)
}

impl SignedCapabilities {
    /// `capabilities` signed by `identity`.
    pub fn sign(capabilities: Capabilities, identity: &NodeIdentity) -> Self {
        let signature = identity.signing_key().sign(&signed_digest(&capabilities).0);
        Self {
            capabilities,
            public_key: hex::encode(identity.public_key().as_bytes()),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// Checks the signature, that the key is the named node's (its id's digest, or with
    /// `trusted` the key trusted for it: a rotated key), that the trust digest covers
    /// the anchors, and (with `trusted`) that the node is trusted.
    pub fn verify(&self, trusted: Option<&BTreeMap<NodeId, VerifyingKey>>) -> Result<(), CapabilitiesRefusal> {
        let key = psionic_core::digest::from_hex::<32>(&self.public_key)
            .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
            .ok_or(CapabilitiesRefusal::Malformed)?;
        let signature = psionic_core::digest::from_hex::<64>(&self.signature)
            .map(|bytes| Signature::from_bytes(&bytes))
            .ok_or(CapabilitiesRefusal::Malformed)?;
        let document = &self.capabilities;
        // A rotated key is not its node id's digest: only a verifier that trusts the
        // node's key in force takes it.
        let key_node = NodeId::from_public_key(&key);
        let trusted_key = trusted.and_then(|keys| keys.get(&document.node_id));
        if key_node != document.node_id && trusted_key != Some(&key) {
            return Err(CapabilitiesRefusal::KeyMismatch {
                key_node,
                node: document.node_id,
            });
        }
        key.verify_strict(&signed_digest(document).0, &signature)
            .map_err(|_| CapabilitiesRefusal::Signature)?;
        let computed = document.trust.digest();
        if computed != document.trust_digest {
            return Err(CapabilitiesRefusal::TrustDigest {
                claimed: document.trust_digest,
                computed,
            });
        }
        match trusted {
            Some(_) if trusted_key != Some(&key) => Err(CapabilitiesRefusal::Untrusted { node: document.node_id }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;

/// What a node publishes of itself that is fixed at start (it signs with the key its
/// identity file holds when asked).
#[derive(Clone)]
pub struct CapabilitySource {
    /// What it measured of itself.
    pub measurement: Measurement,
    /// Its trust bundle.
    pub bundle: TrustBundle,
}

impl std::fmt::Debug for CapabilitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapabilitySource")
            .field("measurement", &self.measurement)
            .finish_non_exhaustive()
    }
}

//! Attested posture at admission: a node measures the executable it runs (its
//! SHA-256) and carries the measurement in its hellos, which its key authenticates; a
//! leader whose configuration lists allowed binaries admits only candidates whose
//! measurement is listed.
//!
//! What this proves: that a node holding its key claims to run that binary. It is a
//! software measurement, not hardware attestation; the capabilities document leaves
//! room for a hardware quote.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The SHA-256 of an executable (plain, without a domain tag: what `sha256sum`
/// prints).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BinaryDigest(pub [u8; 32]);

crate::digest::hex_serde!(BinaryDigest, 32);

crate::identity::hex_display!(BinaryDigest, "BinaryDigest");

/// Why a node's measurement does not admit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum AttestationRefusal {
    /// No measurement was heard from it (no hello yet, or hellos without one).
    #[error("no measurement heard from it")]
    NotMeasured,
    /// It runs a binary the allowlist does not name.
    #[error("it runs binary {measured}, which the allowlist does not name")]
    NotAllowed {
        /// The SHA-256 it measured.
        measured: BinaryDigest,
    },
    /// Its trust bundle (posture, pinned keys, allowed binaries) is not this node's.
    #[error("its trust bundle {theirs:?} is not ours, {ours}")]
    TrustMismatch {
        /// This node's bundle digest.
        ours: crate::digest::Digest,
        /// Its bundle digest, if it said one.
        theirs: Option<crate::digest::Digest>,
    },
}

/// Whether a node that measured `measured` may be admitted under `allowed` (an empty
/// allowlist admits any).
pub fn check(allowed: &BTreeSet<BinaryDigest>, measured: Option<BinaryDigest>) -> Result<(), AttestationRefusal> {
    if allowed.is_empty() {
        return Ok(());
    }
    match measured {
        None => Err(AttestationRefusal::NotMeasured),
        Some(measured) if allowed.contains(&measured) => Ok(()),
        Some(measured) => Err(AttestationRefusal::NotAllowed { measured }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_listed_measurement_passes_a_non_empty_allowlist() {
        let (listed, other) = (BinaryDigest([1; 32]), BinaryDigest([2; 32]));
        assert_eq!(check(&BTreeSet::new(), None), Ok(()));
        let allowed = BTreeSet::from([listed]);
        assert_eq!(check(&allowed, Some(listed)), Ok(()));
        assert_eq!(
            check(&allowed, Some(other)),
            Err(AttestationRefusal::NotAllowed { measured: other })
        );
        assert_eq!(check(&allowed, None), Err(AttestationRefusal::NotMeasured));
    }
}

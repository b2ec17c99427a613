use super::*;

fn identity(n: u8) -> NodeIdentity {
    NodeIdentity::new([n; 32], NodeEpoch(3))
}

fn document(identity: &NodeIdentity) -> Capabilities {
    let posture = psionic_core::TrustPosture::ConfiguredPeers {
        peers: vec![identity.public_key()],
    };
    let trust = TrustAnchors {
        bundle: TrustBundle::of(&posture, identity.node_id(), &Default::default()),
        authorization_policy: None,
        admission_token: None,
    };
    Capabilities {
        node_id: identity.node_id(),
        epoch: identity.epoch(),
        cluster_id: ClusterId([9; 16]),
        trust_digest: trust.digest(),
        trust,
        measurement: Measurement {
            binary_sha256: "ab".repeat(32),
            config_sha256: "cd".repeat(32),
            quote: None,
        },
        backends: ReadinessByBackend::default(),
        committed: CommittedDigests {
            applied_index: 7,
            state_digest: Digest([1; 32]),
        },
    }
}

#[test]
fn a_signed_document_verifies_and_any_edit_or_other_key_is_refused() {
    let node = identity(1);
    let signed = SignedCapabilities::sign(document(&node), &node);
    assert_eq!(signed.verify(None), Ok(()));
    let trusted: BTreeMap<NodeId, VerifyingKey> = [(node.node_id(), node.public_key())].into();
    assert_eq!(signed.verify(Some(&trusted)), Ok(()));
    let stranger: BTreeMap<NodeId, VerifyingKey> = [(identity(2).node_id(), identity(2).public_key())].into();
    assert_eq!(
        signed.verify(Some(&stranger)),
        Err(CapabilitiesRefusal::Untrusted { node: node.node_id() })
    );

    let mut edited = signed.clone();
    edited.capabilities.measurement.binary_sha256 = "00".repeat(32);
    assert_eq!(edited.verify(None), Err(CapabilitiesRefusal::Signature));
    let mut anchors = SignedCapabilities::sign(document(&node), &node);
    anchors.capabilities.trust.bundle.pinned_nodes.clear();
    let resigned = SignedCapabilities::sign(anchors.capabilities, &node);
    assert!(matches!(
        resigned.verify(None),
        Err(CapabilitiesRefusal::TrustDigest { .. })
    ));
    let other = SignedCapabilities::sign(document(&node), &identity(2));
    assert!(matches!(
        other.verify(None),
        Err(CapabilitiesRefusal::KeyMismatch { .. })
    ));
}

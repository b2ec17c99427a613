//! The rule a refusal broke, without its values, and how often each was broken.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The rule a [`Refusal`] broke, without its values: the key of refusal counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalKind {
    /// See [`Refusal::MalformedFrame`].
    MalformedFrame,
    /// See [`Refusal::UnsupportedSchemaVersion`].
    UnsupportedSchemaVersion,
    /// See [`Refusal::NamespaceMismatch`].
    NamespaceMismatch,
    /// See [`Refusal::ClusterMismatch`].
    ClusterMismatch,
    /// See [`Refusal::AuthenticationFailed`].
    AuthenticationFailed,
    /// See [`Refusal::UnknownPeer`].
    UnknownPeer,
    /// See [`Refusal::StaleEpoch`].
    StaleEpoch,
    /// See [`Refusal::Replay`].
    Replay,
    /// See [`Refusal::WrongTransport`].
    WrongTransport,
    /// See [`Refusal::OwnIdentity`].
    OwnIdentity,
    /// See [`Refusal::WrongRecipient`].
    WrongRecipient,
    /// See [`Refusal::Unaddressed`].
    Unaddressed,
    /// See [`Refusal::VoteAlreadyCast`].
    VoteAlreadyCast,
    /// See [`Refusal::StaleFence`].
    StaleFence,
    /// See [`Refusal::AuthorityMismatch`].
    AuthorityMismatch,
    /// See [`Refusal::Snapshot`].
    Snapshot,
    /// See [`Refusal::NotAMember`].
    NotAMember,
    /// See [`Refusal::StaleTerm`].
    StaleTerm,
    /// See [`Refusal::NotAVoter`].
    NotAVoter,
    /// See [`Refusal::NotOurLeader`].
    NotOurLeader,
    /// See [`Refusal::NotTheAssignee`].
    NotTheAssignee,
    /// See [`crate::staging::StagingRefusal`].
    Staging,
    /// See [`Refusal::ForwardedForAnother`].
    ForwardedForAnother,
    /// See [`Refusal::PeerTableFull`].
    PeerTableFull,
    /// See [`Refusal::ImpossibleValues`].
    ImpossibleValues,
    /// See [`Refusal::GenesisMismatch`].
    GenesisMismatch,
    /// See [`Refusal::Recovering`].
    Recovering,
    /// See [`Refusal::BadEndorsement`].
    BadEndorsement,
}

impl RefusalKind {
    /// Every kind, in counter order.
    pub const ALL: [RefusalKind; 28] = [
        RefusalKind::MalformedFrame,
        RefusalKind::UnsupportedSchemaVersion,
        RefusalKind::NamespaceMismatch,
        RefusalKind::ClusterMismatch,
        RefusalKind::AuthenticationFailed,
        RefusalKind::UnknownPeer,
        RefusalKind::StaleEpoch,
        RefusalKind::Replay,
        RefusalKind::WrongTransport,
        RefusalKind::OwnIdentity,
        RefusalKind::WrongRecipient,
        RefusalKind::Unaddressed,
        RefusalKind::VoteAlreadyCast,
        RefusalKind::StaleFence,
        RefusalKind::AuthorityMismatch,
        RefusalKind::Snapshot,
        RefusalKind::NotAMember,
        RefusalKind::StaleTerm,
        RefusalKind::NotAVoter,
        RefusalKind::NotOurLeader,
        RefusalKind::NotTheAssignee,
        RefusalKind::Staging,
        RefusalKind::ForwardedForAnother,
        RefusalKind::PeerTableFull,
        RefusalKind::ImpossibleValues,
        RefusalKind::GenesisMismatch,
        RefusalKind::Recovering,
        RefusalKind::BadEndorsement,
    ];

    /// Whether the frame was refused before it reached the protocol (decoding,
    /// identity, authentication, replay, room for its sender).
    pub const fn is_admission(self) -> bool {
        matches!(
            self,
            RefusalKind::MalformedFrame
                | RefusalKind::UnsupportedSchemaVersion
                | RefusalKind::NamespaceMismatch
                | RefusalKind::ClusterMismatch
                | RefusalKind::AuthenticationFailed
                | RefusalKind::UnknownPeer
                | RefusalKind::StaleEpoch
                | RefusalKind::Replay
                | RefusalKind::WrongTransport
                | RefusalKind::OwnIdentity
                | RefusalKind::WrongRecipient
                | RefusalKind::Unaddressed
                | RefusalKind::PeerTableFull
        )
    }

    /// The kebab-case name used in metrics and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            RefusalKind::MalformedFrame => "malformed-frame",
            RefusalKind::UnsupportedSchemaVersion => "unsupported-schema-version",
            RefusalKind::NamespaceMismatch => "namespace-mismatch",
            RefusalKind::ClusterMismatch => "cluster-mismatch",
            RefusalKind::AuthenticationFailed => "authentication-failed",
            RefusalKind::UnknownPeer => "unknown-peer",
            RefusalKind::StaleEpoch => "stale-epoch",
            RefusalKind::Replay => "replay",
            RefusalKind::WrongTransport => "wrong-transport",
            RefusalKind::OwnIdentity => "own-identity",
            RefusalKind::WrongRecipient => "wrong-recipient",
            RefusalKind::Unaddressed => "unaddressed",
            RefusalKind::VoteAlreadyCast => "vote-already-cast",
            RefusalKind::StaleFence => "stale-fence",
            RefusalKind::AuthorityMismatch => "authority-mismatch",
            RefusalKind::Snapshot => "snapshot",
            RefusalKind::NotAMember => "not-a-member",
            RefusalKind::StaleTerm => "stale-term",
            RefusalKind::NotAVoter => "not-a-voter",
            RefusalKind::NotOurLeader => "not-our-leader",
            RefusalKind::NotTheAssignee => "not-the-assignee",
            RefusalKind::Staging => "staging",
            RefusalKind::ForwardedForAnother => "forwarded-for-another",
            RefusalKind::PeerTableFull => "peer-table-full",
            RefusalKind::ImpossibleValues => "impossible-values",
            RefusalKind::GenesisMismatch => "genesis-mismatch",
            RefusalKind::BadEndorsement => "bad-endorsement",
            RefusalKind::Recovering => "recovering",
        }
    }
}

/// How many frames were refused, by rule. Every kind is present, zero or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalCounters(BTreeMap<RefusalKind, u64>);

impl Default for RefusalCounters {
    fn default() -> Self {
        Self(RefusalKind::ALL.iter().map(|kind| (*kind, 0)).collect())
    }
}

impl RefusalCounters {
    /// Counts one refusal.
    pub fn record(&mut self, kind: RefusalKind) {
        *self.0.entry(kind).or_insert(0) += 1;
    }

    /// Refusals of `kind` so far.
    pub fn get(&self, kind: RefusalKind) -> u64 {
        self.0.get(&kind).copied().unwrap_or(0)
    }

    /// All counters in kind order.
    pub fn iter(&self) -> impl Iterator<Item = (RefusalKind, u64)> + '_ {
        self.0.iter().map(|(kind, count)| (*kind, *count))
    }

    /// Sum over every kind.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

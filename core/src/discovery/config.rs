//! Discovery's timing and limits.

use crate::bounds::{BoundError, at_least, at_most, ordered};

/// Discovery timing and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Time between probes of a healthy peer.
    pub probe_interval_ms: u64,
    /// Missed probes after which a peer is degraded.
    pub degraded_after_missed_probes: u32,
    /// Missed probes after which a peer is unreachable (and dialled with backoff).
    pub unreachable_after_missed_probes: u32,
    /// Silence after which a peer is dropped from the peer table.
    pub peer_expiry_ms: u64,
    /// Cap of the dial backoff for unreachable peers and silent seeds.
    pub dial_backoff_ms_max: u64,
    /// Most peers gossiped in one hello.
    pub gossip_peers_max: usize,
    /// Most gossiped addresses waiting to be dialled.
    pub dial_candidates_max: usize,
    /// Most authenticated senders that are not members tracked at once (replay
    /// windows and peer table); a new one past the cap is refused until one expires.
    pub non_member_senders_max: usize,
    /// Time between two bandwidth probes of a peer on its stream.
    pub link_probe_interval_ms: u64,
    /// Frames in one bandwidth probe (0: links are not probed for bandwidth).
    pub link_probe_frames: u16,
    /// Filler bytes in each frame of a bandwidth probe, at most
    /// [`crate::wire::LINK_PROBE_PAYLOAD_BYTES_MAX`].
    pub link_probe_frame_bytes: u32,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            probe_interval_ms: 500,
            degraded_after_missed_probes: 2,
            unreachable_after_missed_probes: 4,
            peer_expiry_ms: 60_000,
            dial_backoff_ms_max: 8_000,
            gossip_peers_max: 32,
            dial_candidates_max: 256,
            non_member_senders_max: 256,
            link_probe_interval_ms: 30_000,
            link_probe_frames: 8,
            link_probe_frame_bytes: crate::wire::LINK_PROBE_PAYLOAD_BYTES_MAX as u32,
        }
    }
}

impl DiscoveryConfig {
    /// Checks the rules between fields.
    pub fn validate(&self) -> Result<(), BoundError> {
        at_least("discovery.probe_interval_ms", self.probe_interval_ms, 10)?;
        at_least(
            "discovery.degraded_after_missed_probes",
            self.degraded_after_missed_probes.into(),
            1,
        )?;
        at_least("discovery.gossip_peers_max", self.gossip_peers_max as u64, 1)?;
        at_least("discovery.link_probe_interval_ms", self.link_probe_interval_ms, 100)?;
        at_least(
            "discovery.link_probe_frame_bytes",
            self.link_probe_frame_bytes.into(),
            1,
        )?;
        at_most(
            "discovery.link_probe_frame_bytes",
            self.link_probe_frame_bytes.into(),
            crate::wire::LINK_PROBE_PAYLOAD_BYTES_MAX as u64,
        )?;
        ordered(
            (
                "discovery.degraded_after_missed_probes",
                self.degraded_after_missed_probes.into(),
            ),
            (
                "discovery.unreachable_after_missed_probes",
                self.unreachable_after_missed_probes.into(),
            ),
        )?;
        ordered(
            ("discovery.probe_interval_ms", self.probe_interval_ms),
            ("discovery.dial_backoff_ms_max", self.dial_backoff_ms_max + 1),
        )?;
        let unreachable_ms = self.probe_interval_ms * u64::from(self.unreachable_after_missed_probes);
        ordered(
            ("probe_interval_ms x unreachable_after_missed_probes", unreachable_ms),
            ("discovery.peer_expiry_ms", self.peer_expiry_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(DiscoveryConfig::default().validate(), Ok(()));
    }

    #[test]
    fn bandwidth_probe_frames_hold_one_to_the_frame_maximum_of_filler() {
        let with_bytes = |link_probe_frame_bytes| DiscoveryConfig {
            link_probe_frame_bytes,
            ..DiscoveryConfig::default()
        };
        let max = crate::wire::LINK_PROBE_PAYLOAD_BYTES_MAX as u64;
        assert_eq!(with_bytes(1).validate(), Ok(()));
        assert_eq!(with_bytes(max as u32).validate(), Ok(()));
        assert_eq!(
            with_bytes(0).validate(),
            Err(BoundError::TooSmall {
                field: "discovery.link_probe_frame_bytes",
                value: 0,
                min: 1
            })
        );
        assert_eq!(
            with_bytes(max as u32 + 1).validate(),
            Err(BoundError::TooLarge {
                field: "discovery.link_probe_frame_bytes",
                value: max + 1,
                max
            })
        );
    }

    #[test]
    fn thresholds_must_be_ordered() {
        let config = DiscoveryConfig {
            unreachable_after_missed_probes: 2,
            ..DiscoveryConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(BoundError::Order {
                smaller: "discovery.degraded_after_missed_probes",
                ..
            })
        ));
        let config = DiscoveryConfig {
            peer_expiry_ms: 1_000,
            ..DiscoveryConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(BoundError::Order {
                larger: "discovery.peer_expiry_ms",
                ..
            })
        ));
    }
}

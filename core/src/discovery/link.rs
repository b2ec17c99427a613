//! What a node measures of its link to one peer: round trip from discovery probes,
//! bandwidth from bursts on the peer stream.
//!
//! Invariants: samples come only from answers that echo a time this node sent, so
//! both ends of a sample are read from this node's own clock; a sample from the
//! future or older than `SAMPLE_AGE_MS_MAX` is dropped; one burst is in flight at a
//! time and an answer to any other is ignored.

use super::DiscoveryConfig;
use crate::backend::LinkTelemetry;
use crate::time::{Instant, ms};

/// Answers older than this are not samples of the link as it is.
const SAMPLE_AGE_MS_MAX: u64 = 10_000;

/// Measurements of one link, smoothed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkMeter {
    /// Round trip, smoothed (a new sample weighs a quarter).
    pub rtt_us: Option<u32>,
    /// Bandwidth in megabits per second, smoothed (a new sample weighs a half).
    pub bandwidth_mbps: Option<u32>,
    burst_in_flight: Option<Burst>,
    next_burst_at: Instant,
}

/// A bandwidth probe sent and not yet answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Burst {
    sent_at: Instant,
    bytes: u64,
}

/// A bandwidth probe to send now: `frames` frames of `payload_bytes` filler each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BurstDue {
    /// Names the burst; the answer echoes it.
    pub sent_at: Instant,
    /// Frames in the burst.
    pub frames: u16,
    /// Filler per frame.
    pub payload_bytes: usize,
}

impl LinkMeter {
    /// A meter whose first burst is due at `first_burst_at`.
    pub fn new(first_burst_at: Instant) -> Self {
        Self {
            next_burst_at: first_burst_at,
            ..Self::default()
        }
    }

    /// What planners read, once a round trip is known.
    pub fn telemetry(&self) -> Option<LinkTelemetry> {
        self.rtt_us.map(|rtt_us| LinkTelemetry {
            rtt_us,
            bandwidth_mbps: self.bandwidth_mbps,
        })
    }

    /// A discovery probe sent at `probe_sent_us` was answered `now`.
    pub fn on_probe_answered(&mut self, now: Instant, probe_sent_us: u64) {
        let Some(sample_us) = sample_us(now, probe_sent_us) else {
            return;
        };
        let sample = u32::try_from(sample_us).unwrap_or(u32::MAX);
        self.rtt_us = Some(match self.rtt_us {
            Some(smoothed) => ((3 * u64::from(smoothed) + u64::from(sample)) / 4) as u32,
            None => sample,
        });
    }

    /// The burst sent at `burst_sent_us` was answered `now`. The transfer time is
    /// the elapsed time less the round trip, but at least half the elapsed time, so
    /// a noisy round trip cannot inflate the estimate more than twofold.
    pub fn on_burst_answered(&mut self, now: Instant, burst_sent_us: u64) {
        let Some(burst) = self.burst_in_flight else { return };
        if burst.sent_at.as_micros() != burst_sent_us {
            return;
        }
        self.burst_in_flight = None;
        let Some(elapsed_us) = sample_us(now, burst_sent_us) else {
            return;
        };
        let rtt_us = u64::from(self.rtt_us.unwrap_or(0));
        let transfer_us = elapsed_us.saturating_sub(rtt_us.min(elapsed_us / 2)).max(1);
        let sample = u32::try_from(burst.bytes.saturating_mul(8) / transfer_us).unwrap_or(u32::MAX);
        self.bandwidth_mbps = Some(match self.bandwidth_mbps {
            Some(smoothed) => ((u64::from(smoothed) + u64::from(sample)) / 2) as u32,
            None => sample,
        });
    }

    /// The burst due now, if any (none when bursts are off); schedules the next.
    pub fn due_burst(&mut self, now: Instant, config: &DiscoveryConfig) -> Option<BurstDue> {
        if config.link_probe_frames == 0 || self.next_burst_at > now {
            return None;
        }
        self.next_burst_at = now + ms(config.link_probe_interval_ms);
        let payload_bytes = config.link_probe_frame_bytes as usize;
        self.burst_in_flight = Some(Burst {
            sent_at: now,
            bytes: u64::from(config.link_probe_frames) * payload_bytes as u64,
        });
        Some(BurstDue {
            sent_at: now,
            frames: config.link_probe_frames,
            payload_bytes,
        })
    }

    /// When the next burst is due.
    pub fn next_burst_at(&self) -> Instant {
        self.next_burst_at
    }
}

/// Microseconds from `sent_us` to `now`, if `sent_us` is a plausible recent past.
fn sample_us(now: Instant, sent_us: u64) -> Option<u64> {
    let elapsed_us = now.as_micros().checked_sub(sent_us)?;
    (elapsed_us <= SAMPLE_AGE_MS_MAX * 1_000).then_some(elapsed_us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::LINK_PROBE_PAYLOAD_BYTES_MAX;

    fn at_us(micros: u64) -> Instant {
        Instant::from_micros(micros)
    }

    #[test]
    fn round_trips_are_smoothed_and_implausible_answers_dropped() {
        let mut meter = LinkMeter::default();
        meter.on_probe_answered(at_us(1_400), 1_000);
        assert_eq!(meter.rtt_us, Some(400));
        meter.on_probe_answered(at_us(5_800), 5_000);
        assert_eq!(meter.rtt_us, Some(500), "a quarter of the way to 800");
        meter.on_probe_answered(at_us(6_000), 7_000);
        meter.on_probe_answered(at_us(20_000_000), 1);
        assert_eq!(
            meter.rtt_us,
            Some(500),
            "an answer from the future or from long ago is no sample"
        );
    }

    #[test]
    fn a_burst_measures_bandwidth_net_of_the_round_trip() {
        let config = DiscoveryConfig {
            link_probe_frames: 4,
            ..DiscoveryConfig::default()
        };
        let mut meter = LinkMeter::default();
        meter.on_probe_answered(at_us(1_100), 1_000);
        let burst = meter.due_burst(at_us(2_000), &config).expect("the first burst is due");
        assert_eq!((burst.frames, burst.payload_bytes), (4, LINK_PROBE_PAYLOAD_BYTES_MAX));
        assert_eq!(meter.due_burst(at_us(3_000), &config), None, "one per interval");
        meter.on_burst_answered(at_us(2_100 + 1_835), 1_999);
        assert_eq!(meter.bandwidth_mbps, None, "an answer to another burst is ignored");
        // 4 x 56 KiB = 229,376 bytes = 1,835,008 bits in 1,835 us after the 100 us round trip.
        meter.on_burst_answered(at_us(2_100 + 1_835), 2_000);
        assert_eq!(meter.bandwidth_mbps, Some(1_000));
        assert_eq!(
            meter.telemetry(),
            Some(LinkTelemetry {
                rtt_us: 100,
                bandwidth_mbps: Some(1_000)
            })
        );
        meter.on_burst_answered(at_us(9_000), 2_000);
        assert_eq!(meter.bandwidth_mbps, Some(1_000), "a burst is answered once");
    }

    #[test]
    fn bursts_are_off_with_zero_frames() {
        let config = DiscoveryConfig {
            link_probe_frames: 0,
            ..DiscoveryConfig::default()
        };
        assert_eq!(LinkMeter::default().due_burst(at_us(0), &config), None);
    }
}

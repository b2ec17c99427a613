//! Maps the driver's monotonic clock onto the core's [`Instant`], with an optional
//! offset and drift (used by the simulator to model skewed clocks).

use std::time::Duration;

use psionic_core::Instant;

/// A node's view of time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: tokio::time::Instant,
    offset_us: u64,
    drift_ppm: i32,
}

impl Clock {
    /// A clock whose origin is now, with no skew.
    pub fn new() -> Self {
        Self::skewed(0, 0)
    }

    /// A clock that reads `offset_ms` ahead and runs `drift_ppm` parts per million fast
    /// (negative: slow). Drift is bounded to ±10% so time never goes backwards.
    pub fn skewed(offset_ms: u64, drift_ppm: i32) -> Self {
        let drift_ppm = drift_ppm.clamp(-100_000, 100_000);
        Self {
            origin: tokio::time::Instant::now(),
            offset_us: offset_ms.saturating_mul(1_000),
            drift_ppm,
        }
    }

    /// The core instant for the current moment.
    pub fn now(&self) -> Instant {
        self.core_instant_at(tokio::time::Instant::now())
    }

    /// The driver instant at which the core instant `at` is reached.
    pub fn deadline(&self, at: Instant) -> tokio::time::Instant {
        let skewed_us = at.as_micros().saturating_sub(self.offset_us);
        let real_us = (u128::from(skewed_us) * 1_000_000) / self.rate_ppm();
        self.origin + Duration::from_micros(u64::try_from(real_us).unwrap_or(u64::MAX / 2))
    }

    fn core_instant_at(&self, moment: tokio::time::Instant) -> Instant {
        let real_us = moment.saturating_duration_since(self.origin).as_micros();
        let skewed_us = real_us * self.rate_ppm() / 1_000_000;
        Instant::from_micros(
            u64::try_from(skewed_us)
                .unwrap_or(u64::MAX)
                .saturating_add(self.offset_us),
        )
    }

    fn rate_ppm(&self) -> u128 {
        u128::try_from(1_000_000 + i64::from(self.drift_ppm)).unwrap_or(1_000_000)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

//! Maps the driver's monotonic clock onto the core's [`Instant`], with an optional
//! offset and drift (used by the simulator to model skewed clocks).
//!
//! Invariant: the core instant never goes backwards, whatever skew is set and when:
//! a change re-anchors the mapping at the current moment, and offsets only jump ahead.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use psionic_core::Instant;

/// Drift is bounded to ±10% so time never stalls or runs away.
const DRIFT_PPM_BOUND: i32 = 100_000;

/// A node's view of time. Clones share one mapping, so a skew set through one clone
/// (by the simulator) is seen by the driver holding another.
#[derive(Clone, Debug)]
pub struct Clock {
    mapping: Arc<Mutex<Mapping>>,
}

/// Core time `anchor_core_us` at driver time `anchor`, advancing at `1 + drift_ppm/1e6`.
#[derive(Clone, Copy, Debug)]
struct Mapping {
    anchor: tokio::time::Instant,
    anchor_core_us: u64,
    drift_ppm: i32,
}

impl Clock {
    /// A clock whose origin is now, with no skew.
    pub fn new() -> Self {
        Self::skewed(0, 0)
    }

    /// A clock that reads `offset_ms` ahead and runs `drift_ppm` parts per million fast
    /// (negative: slow), bounded to ±10%.
    pub fn skewed(offset_ms: u64, drift_ppm: i32) -> Self {
        let mapping = Mapping {
            anchor: tokio::time::Instant::now(),
            anchor_core_us: offset_ms.saturating_mul(1_000),
            drift_ppm: drift_ppm.clamp(-DRIFT_PPM_BOUND, DRIFT_PPM_BOUND),
        };
        Self {
            mapping: Arc::new(Mutex::new(mapping)),
        }
    }

    /// From now on: jump `jump_ms` ahead and run at `drift_ppm` (bounded to ±10%).
    pub fn set_skew(&self, jump_ms: u64, drift_ppm: i32) {
        let mut mapping = self.mapping();
        let moment = tokio::time::Instant::now();
        let core_us = mapping.core_us_at(moment);
        *mapping = Mapping {
            anchor: moment,
            anchor_core_us: core_us.saturating_add(jump_ms.saturating_mul(1_000)),
            drift_ppm: drift_ppm.clamp(-DRIFT_PPM_BOUND, DRIFT_PPM_BOUND),
        };
    }

    /// The core instant for the current moment.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.mapping().core_us_at(tokio::time::Instant::now()))
    }

    /// The driver instant at which the core instant `at` is reached.
    pub fn deadline(&self, at: Instant) -> tokio::time::Instant {
        let mapping = *self.mapping();
        let ahead_us = at.as_micros().saturating_sub(mapping.anchor_core_us);
        let real_us = (u128::from(ahead_us) * 1_000_000) / mapping.rate_ppm();
        mapping.anchor + Duration::from_micros(u64::try_from(real_us).unwrap_or(u64::MAX / 2))
    }

    fn mapping(&self) -> MutexGuard<'_, Mapping> {
        self.mapping.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Mapping {
    fn core_us_at(&self, moment: tokio::time::Instant) -> u64 {
        let real_us = moment.saturating_duration_since(self.anchor).as_micros();
        let core_us = real_us * self.rate_ppm() / 1_000_000;
        u64::try_from(core_us)
            .unwrap_or(u64::MAX)
            .saturating_add(self.anchor_core_us)
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

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_drifting_clock_runs_fast_and_its_deadlines_match() {
        let clock = Clock::skewed(50, 100_000);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(clock.now().as_millis(), 50 + 1_100);
        let at = Instant::from_millis(50 + 2_200);
        assert_eq!(clock.deadline(at) - tokio::time::Instant::now(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn changing_the_skew_never_moves_time_backwards() {
        let clock = Clock::skewed(0, 100_000);
        let shared = clock.clone();
        tokio::time::advance(Duration::from_secs(10)).await;
        let before = clock.now();
        shared.set_skew(0, -100_000);
        assert_eq!(clock.now(), before, "re-anchored where it stood");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(clock.now().as_millis(), before.as_millis() + 900);
        shared.set_skew(500, 0);
        assert_eq!(clock.now().as_millis(), before.as_millis() + 1_400);
    }
}

//! The driver's wake-up at the core's next timeout.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

/// Completes once the deadline last set has passed; never while none is set.
///
/// The driver polls it on every pass of its loop, from one task. It arms the
/// runtime's timer only when the deadline moves and otherwise relies on the armed
/// timer to wake the task: madsim's `Sleep` adds a timer entry on every poll, and
/// each entry wakes the driver once more when it fires.
pub(crate) struct Wake {
    sleep: Pin<Box<Sleep>>,
    deadline: Option<Instant>,
    /// The deadline the runtime's timer is armed for.
    armed: Option<Instant>,
}

impl Wake {
    pub(crate) fn new() -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            deadline: None,
            armed: None,
        }
    }

    pub(crate) fn set(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    pub(crate) async fn elapsed(&mut self) {
        poll_fn(|cx| self.poll_elapsed(cx)).await;
    }

    fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.deadline else {
            return Poll::Pending;
        };
        if self.armed == Some(deadline) {
            if !self.sleep.is_elapsed() {
                return Poll::Pending;
            }
        } else {
            // As `sleep_until` does: a deadline already passed (the core's clock can
            // map a timer a microsecond short of due) waits the timer's resolution
            // instead of waking the driver in a loop.
            let resolution = std::time::Duration::from_millis(1);
            self.sleep.as_mut().reset(deadline.max(Instant::now() + resolution));
            self.armed = Some(deadline);
        }
        let elapsed = self.sleep.as_mut().poll(cx);
        if elapsed.is_ready() {
            self.armed = None;
        }
        elapsed
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn completes_at_the_deadline_however_often_it_is_polled_before() {
        let start = Instant::now();
        let mut wake = Wake::new();
        wake.set(Some(start + Duration::from_millis(50)));
        let mut ticks = tokio::time::interval(Duration::from_millis(7));
        let mut polled = 0;
        loop {
            tokio::select! {
                biased;
                () = wake.elapsed() => break,
                _ = ticks.tick() => polled += 1,
            }
        }
        assert_eq!(Instant::now() - start, Duration::from_millis(50));
        assert!(polled > 5, "polled again between ticks: {polled}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_already_passed_waits_a_millisecond_and_none_waits_forever() {
        let start = Instant::now();
        let mut wake = Wake::new();
        wake.set(Some(start - Duration::from_millis(5)));
        wake.elapsed().await;
        assert_eq!(
            Instant::now() - start,
            Duration::from_millis(1),
            "not at once, in a loop"
        );
        wake.set(None);
        let waited = tokio::time::timeout(Duration::from_secs(3600), wake.elapsed()).await;
        assert!(waited.is_err());
    }
}

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
/// each entry wakes the driver once more when it fires. A deadline is armed with
/// `sleep_until`, as each runtime defines it (madsim waits at least a millisecond for
/// one already passed, so a driver whose clock maps a timer short of due does not
/// spin without simulated time moving).
pub(crate) struct Wake {
    deadline: Option<Instant>,
    /// The runtime's timer, with the deadline it was armed for.
    armed: Option<(Instant, Pin<Box<Sleep>>)>,
}

impl Wake {
    pub(crate) fn new() -> Self {
        Self {
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
        let armed_for_it = matches!(&self.armed, Some((at, _)) if *at == deadline);
        let sleep = match &mut self.armed {
            Some((_, sleep)) if armed_for_it => {
                if !sleep.is_elapsed() {
                    return Poll::Pending;
                }
                sleep
            }
            armed => &mut armed.insert((deadline, Box::pin(tokio::time::sleep_until(deadline)))).1,
        };
        let elapsed = sleep.as_mut().poll(cx);
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
    async fn a_deadline_moved_earlier_completes_at_the_new_one_and_none_never() {
        let start = Instant::now();
        let mut wake = Wake::new();
        wake.set(Some(start + Duration::from_millis(50)));
        let early = tokio::time::timeout(Duration::from_millis(5), wake.elapsed()).await;
        assert!(early.is_err(), "armed for 50 ms");
        wake.set(Some(start + Duration::from_millis(20)));
        wake.elapsed().await;
        assert_eq!(Instant::now() - start, Duration::from_millis(20));
        wake.set(None);
        let waited = tokio::time::timeout(Duration::from_secs(3600), wake.elapsed()).await;
        assert!(waited.is_err());
    }
}

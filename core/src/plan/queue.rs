//! An executor's queue under the serving policy: priority classes (or arrival order),
//! decode steps interleaved with prefills at the policy's ratio, a depth limit, and
//! cancellation of waiting work.
//!
//! Invariants: a request id is queued at most once; arrival order is kept within a
//! class and phase; the same pushes and pops give the same order on every run.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::serving::{QueueDiscipline, ServingPolicy};
use crate::identity::RequestId;

/// What a queued step of a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Reads the prompt.
    Prefill,
    /// Produces the next token.
    Decode,
}

/// Why work was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum QueueRefusal {
    /// The queue is at the policy's depth limit.
    #[error("queue full: {depth} waiting, limit {max}")]
    Full {
        /// Waiting now.
        depth: u32,
        /// The limit.
        max: u32,
    },
    /// The request is queued already.
    #[error("request {request} is queued already")]
    Duplicate {
        /// The request.
        request: RequestId,
    },
}

/// Position in the queue: higher class first, then phase, then arrival.
type Slot = (Reverse<u8>, Phase, u64);

/// Waiting work of type `T`, ordered by the serving policy.
#[derive(Debug)]
pub struct ServingQueue<T> {
    policy: ServingPolicy,
    order: BTreeMap<Slot, RequestId>,
    waiting: BTreeMap<RequestId, (Slot, T)>,
    arrivals: u64,
    decodes_since_prefill: u16,
}

impl<T> ServingQueue<T> {
    /// An empty queue under `policy`.
    pub fn new(policy: ServingPolicy) -> Self {
        Self {
            policy,
            order: BTreeMap::new(),
            waiting: BTreeMap::new(),
            arrivals: 0,
            decodes_since_prefill: 0,
        }
    }

    /// Applies `policy` from now on (work already queued keeps its place).
    pub fn set_policy(&mut self, policy: ServingPolicy) {
        self.policy = policy;
    }

    /// Requests waiting.
    pub fn depth(&self) -> u32 {
        u32::try_from(self.waiting.len()).unwrap_or(u32::MAX)
    }

    /// Whether `request` is waiting.
    pub fn contains(&self, request: RequestId) -> bool {
        self.waiting.contains_key(&request)
    }

    /// Queues `work` for `request` in priority `class` (clamped to the policy's
    /// classes; ignored under FIFO). A decode step re-queued by a running request is
    /// always taken; new work is refused at the depth limit.
    pub fn push(&mut self, request: RequestId, class: u8, phase: Phase, work: T) -> Result<(), QueueRefusal> {
        if self.waiting.contains_key(&request) {
            return Err(QueueRefusal::Duplicate { request });
        }
        let (depth, max) = (self.depth(), self.policy.queue_depth_max);
        if phase == Phase::Prefill && depth >= max {
            return Err(QueueRefusal::Full { depth, max });
        }
        let class = match self.policy.discipline {
            QueueDiscipline::Fifo => 0,
            QueueDiscipline::Priority { classes } => class.min(classes.saturating_sub(1)),
        };
        let slot = (Reverse(class), phase, self.arrivals);
        self.arrivals += 1;
        self.order.insert(slot, request);
        self.waiting.insert(request, (slot, work));
        Ok(())
    }

    /// Takes the next work: from the highest class waiting, a decode step while fewer
    /// than the policy's `decode_steps_per_prefill` ran since the last prefill (or no
    /// prefill waits), else the oldest prefill.
    pub fn pop(&mut self) -> Option<(RequestId, Phase, T)> {
        let (Reverse(class), _, _) = *self.order.keys().next()?;
        let oldest = |phase| {
            let from = (Reverse(class), phase, 0);
            let to = (Reverse(class), phase, u64::MAX);
            self.order.range(from..=to).next().map(|(slot, _)| *slot)
        };
        let slot = match (oldest(Phase::Prefill), oldest(Phase::Decode)) {
            (Some(prefill), Some(decode)) => {
                if self.decodes_since_prefill < self.policy.decode_steps_per_prefill {
                    decode
                } else {
                    prefill
                }
            }
            (Some(only), None) | (None, Some(only)) => only,
            (None, None) => unreachable!("the first slot belongs to this class"),
        };
        let request = self.order.remove(&slot).expect("slot found above");
        let (_, work) = self.waiting.remove(&request).expect("every ordered request is waiting");
        let phase = slot.1;
        self.decodes_since_prefill = match phase {
            Phase::Prefill => 0,
            Phase::Decode => self.decodes_since_prefill.saturating_add(1),
        };
        Some((request, phase, work))
    }

    /// Removes `request`'s waiting work, if any.
    pub fn cancel(&mut self, request: RequestId) -> Option<T> {
        let (slot, work) = self.waiting.remove(&request)?;
        self.order.remove(&slot);
        Some(work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> RequestId {
        RequestId([byte; 16])
    }

    fn policy(discipline: QueueDiscipline, decode_steps_per_prefill: u16, queue_depth_max: u32) -> ServingPolicy {
        ServingPolicy {
            discipline,
            decode_steps_per_prefill,
            queue_depth_max,
            ..ServingPolicy::default()
        }
    }

    fn drain(queue: &mut ServingQueue<()>) -> Vec<(u8, Phase)> {
        std::iter::from_fn(|| queue.pop().map(|(request, phase, ())| (request.0[0], phase))).collect()
    }

    #[test]
    fn higher_classes_go_first_and_arrival_order_holds_within_a_class() {
        let mut queue = ServingQueue::new(policy(QueueDiscipline::Priority { classes: 3 }, 0, 8));
        for (byte, class) in [(1, 0), (2, 2), (3, 1), (4, 2), (5, 9)] {
            queue.push(id(byte), class, Phase::Prefill, ()).unwrap();
        }
        let order: Vec<u8> = drain(&mut queue).into_iter().map(|(byte, _)| byte).collect();
        assert_eq!(order, [2, 4, 5, 3, 1], "class 9 is clamped to 2 and arrived last");
        let mut fifo = ServingQueue::new(policy(QueueDiscipline::Fifo, 0, 8));
        for (byte, class) in [(1, 0), (2, 2), (3, 1)] {
            fifo.push(id(byte), class, Phase::Prefill, ()).unwrap();
        }
        let order: Vec<u8> = drain(&mut fifo).into_iter().map(|(byte, _)| byte).collect();
        assert_eq!(order, [1, 2, 3]);
        fifo.set_policy(policy(QueueDiscipline::Priority { classes: 2 }, 0, 8));
        for (byte, class) in [(1, 0), (2, 1)] {
            fifo.push(id(byte), class, Phase::Prefill, ()).unwrap();
        }
        let order: Vec<u8> = drain(&mut fifo).into_iter().map(|(byte, _)| byte).collect();
        assert_eq!(order, [2, 1], "the new policy's classes apply to new work");
    }

    #[test]
    fn decode_steps_and_prefills_interleave_at_the_policy_ratio() {
        let mut queue = ServingQueue::new(policy(QueueDiscipline::Fifo, 2, 16));
        for byte in 1..=6 {
            queue.push(id(byte), 0, Phase::Decode, ()).unwrap();
        }
        for byte in 7..=9 {
            queue.push(id(byte), 0, Phase::Prefill, ()).unwrap();
        }
        let phases: Vec<Phase> = drain(&mut queue).into_iter().map(|(_, phase)| phase).collect();
        use Phase::{Decode as D, Prefill as P};
        assert_eq!(phases, [D, D, P, D, D, P, D, D, P]);
    }

    #[test]
    fn a_full_queue_sheds_new_work_but_keeps_running_requests_going() {
        let mut queue = ServingQueue::new(policy(QueueDiscipline::Fifo, 1, 2));
        queue.push(id(1), 0, Phase::Prefill, ()).unwrap();
        assert_eq!(
            queue.push(id(1), 0, Phase::Prefill, ()),
            Err(QueueRefusal::Duplicate { request: id(1) })
        );
        queue.push(id(2), 0, Phase::Prefill, ()).unwrap();
        assert_eq!(
            queue.push(id(3), 0, Phase::Prefill, ()),
            Err(QueueRefusal::Full { depth: 2, max: 2 })
        );
        queue.push(id(4), 0, Phase::Decode, ()).unwrap();
        assert_eq!(queue.depth(), 3);
        assert_eq!(queue.cancel(id(2)), Some(()));
        assert_eq!(queue.cancel(id(2)), None);
        assert_eq!(drain(&mut queue), [(4, Phase::Decode), (1, Phase::Prefill)]);
    }
}

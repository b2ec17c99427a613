//! Records kept per request, at most a bound: the one kept first goes first.

use std::collections::{BTreeMap, VecDeque};

use crate::identity::RequestId;

/// Values by request id, at most `MAX`, evicted in the order they were first kept
/// (request ids are random: their order says nothing of age).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Kept<T, const MAX: usize> {
    values: BTreeMap<RequestId, T>,
    order: VecDeque<RequestId>,
}

impl<T, const MAX: usize> Default for Kept<T, MAX> {
    fn default() -> Self {
        Self {
            values: BTreeMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<T, const MAX: usize> Kept<T, MAX> {
    /// Keeps `value` for `request` (in the place `request` was first kept, if it is
    /// kept already), evicting the one kept longest once there are more than `MAX`.
    pub fn insert(&mut self, request: RequestId, value: T) {
        if self.values.insert(request, value).is_none() {
            self.order.push_back(request);
        }
        while self.values.len() > MAX {
            let Some(oldest) = self.order.pop_front() else { break };
            self.values.remove(&oldest);
        }
    }

    pub fn get(&self, request: &RequestId) -> Option<&T> {
        self.values.get(request)
    }

    pub fn get_mut(&mut self, request: &RequestId) -> Option<&mut T> {
        self.values.get_mut(request)
    }

    pub fn remove(&mut self, request: &RequestId) -> Option<T> {
        let value = self.values.remove(request)?;
        self.order.retain(|kept| kept != request);
        Some(value)
    }

    /// Every kept value, by request id.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&RequestId, &mut T)> {
        self.values.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(seed: u32) -> RequestId {
        // Ids in no particular order, as clients draw them.
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&seed.wrapping_mul(2_654_435_761).to_be_bytes());
        RequestId(bytes)
    }

    #[test]
    fn the_newest_are_kept_whatever_their_ids() {
        let mut kept: Kept<u32, 8> = Kept::default();
        for seed in 0..100 {
            kept.insert(id(seed), seed);
        }
        let held: Vec<u32> = (0..100).filter(|seed| kept.get(&id(*seed)).is_some()).collect();
        assert_eq!(held, (92..100).collect::<Vec<_>>());
        kept.insert(id(95), 0);
        assert_eq!(kept.get(&id(95)), Some(&0), "updated in place");
        assert_eq!(kept.remove(&id(92)), Some(92));
        kept.insert(id(100), 100);
        kept.insert(id(101), 101);
        assert!(kept.get(&id(93)).is_none(), "the oldest left went first");
        assert!(kept.get(&id(101)).is_some());
    }
}

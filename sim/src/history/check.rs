//! The search. Events (calls and returns) in time order form a doubly linked list; an
//! operation whose call is at the head of what remains may be linearized next if the
//! model accepts its output, which removes its call and return from the list. Reaching
//! a return whose operation is not linearized yet means backtracking. A configuration
//! (operations linearized, model state) met before is not searched again.

use std::collections::{BTreeMap, HashSet};

use super::{Model, Operation};

/// What a check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict<I, O> {
    /// Some order of the operations explains every output.
    Linearizable,
    /// No order does, for the operations on `key`; `minimal` is a sub-history that is
    /// still not linearizable but becomes so without any one of its operations.
    NotLinearizable {
        /// The key.
        key: String,
        /// The operations, in call order.
        minimal: Vec<Operation<I, O>>,
    },
}

/// A history of operations on `M`.
type History<M> = Vec<Operation<<M as Model>::Input, <M as Model>::Output>>;

/// Checks `history` against `M`, key by key.
pub fn check<M: Model>(history: &[Operation<M::Input, M::Output>]) -> Verdict<M::Input, M::Output> {
    let mut by_key: BTreeMap<String, History<M>> = BTreeMap::new();
    for operation in history {
        by_key
            .entry(M::key(&operation.input))
            .or_default()
            .push(operation.clone());
    }
    for (key, operations) in by_key {
        if !linearizable::<M>(&operations) {
            let mut minimal = minimize::<M>(operations);
            minimal.sort_by_key(|operation| operation.call_us);
            return Verdict::NotLinearizable { key, minimal };
        }
    }
    Verdict::Linearizable
}

/// Operations dropped, chunk by chunk, as long as what is left stays non-linearizable
/// and self-contained.
fn minimize<M: Model>(mut operations: History<M>) -> History<M> {
    let mut chunk = (operations.len() / 2).max(1);
    loop {
        let mut start = 0;
        let mut dropped = false;
        while start < operations.len() && operations.len() > 1 {
            let end = (start + chunk).min(operations.len());
            let rest: Vec<_> = operations[..start].iter().chain(&operations[end..]).cloned().collect();
            if !M::self_contained(&rest) || linearizable::<M>(&rest) {
                start = end;
            } else {
                operations = rest;
                dropped = true;
            }
        }
        if chunk == 1 && !dropped {
            return operations;
        }
        if !dropped {
            chunk = (chunk / 2).max(1);
        }
    }
}

/// One event of the list: an operation's call or return.
#[derive(Clone, Copy, Debug)]
struct Event {
    operation: usize,
    is_call: bool,
    /// The matching return's event, for a call.
    matching: usize,
}

/// Whether some order of `operations` explains every output.
pub(super) fn linearizable<M: Model>(operations: &[Operation<M::Input, M::Output>]) -> bool {
    let events = events(operations);
    let (mut next, mut prev) = circular_list(events.len());
    let n = events.len();
    let mut linearized = Bitset::new(operations.len());
    let mut state = M::initial();
    let mut seen: HashSet<(Bitset, M::State)> = HashSet::new();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut at = next[n];
    while next[n] != n {
        let event = events[at];
        if event.is_call {
            let operation = &operations[event.operation];
            let output = operation.returned.as_ref().map(|(_, output)| output);
            if let Some(after) = M::step(&state, &operation.input, output) {
                let mut now_linearized = linearized.clone();
                now_linearized.set(event.operation);
                if seen.insert((now_linearized.clone(), after.clone())) {
                    stack.push((at, std::mem::replace(&mut state, after)));
                    linearized = now_linearized;
                    unlink(&mut next, &mut prev, at);
                    unlink(&mut next, &mut prev, event.matching);
                    at = next[n];
                    continue;
                }
            }
            at = next[at];
        } else {
            let Some((call, before)) = stack.pop() else {
                return false;
            };
            state = before;
            let call_event = events[call];
            linearized.clear(call_event.operation);
            relink(&mut next, &mut prev, call_event.matching);
            relink(&mut next, &mut prev, call);
            at = next[call];
        }
    }
    true
}

/// `next` and `prev` of the events `0..n` in order, made circular through a head
/// sentinel, node `n`.
fn circular_list(n: usize) -> (Vec<usize>, Vec<usize>) {
    let next = (0..=n).map(|node| if node == n { 0 } else { node + 1 }).collect();
    let prev = (0..=n).map(|node| if node == 0 { n } else { node - 1 }).collect();
    (next, prev)
}

fn unlink(next: &mut [usize], prev: &mut [usize], at: usize) {
    let (before, after) = (prev[at], next[at]);
    next[before] = after;
    prev[after] = before;
}

fn relink(next: &mut [usize], prev: &mut [usize], at: usize) {
    let (before, after) = (prev[at], next[at]);
    next[before] = at;
    prev[after] = at;
}

/// Calls and returns in time order (at one instant, calls first: operations that
/// touch in time are taken as concurrent). An operation that never returned returns
/// after everything else.
fn events<I, O>(operations: &[Operation<I, O>]) -> Vec<Event> {
    let mut timed: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * operations.len());
    for (index, operation) in operations.iter().enumerate() {
        timed.push((operation.call_us, false, index));
        let returned_us = operation.returned.as_ref().map_or(u64::MAX, |(at, _)| *at);
        timed.push((returned_us.max(operation.call_us), true, index));
    }
    timed.sort();
    let mut call_at = vec![0; operations.len()];
    let mut return_at = vec![0; operations.len()];
    for (position, (_, is_return, operation)) in timed.iter().enumerate() {
        if *is_return {
            return_at[*operation] = position;
        } else {
            call_at[*operation] = position;
        }
    }
    timed
        .iter()
        .map(|(_, is_return, operation)| Event {
            operation: *operation,
            is_call: !is_return,
            matching: if *is_return {
                call_at[*operation]
            } else {
                return_at[*operation]
            },
        })
        .collect()
}

/// Which operations are linearized.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Bitset(Vec<u64>);

impl Bitset {
    fn new(bits: usize) -> Self {
        Self(vec![0; bits.div_ceil(64)])
    }

    fn set(&mut self, bit: usize) {
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    fn clear(&mut self, bit: usize) {
        self.0[bit / 64] &= !(1 << (bit % 64));
    }
}

//! Client histories and a linearizability checker (Wing and Gong's search with Lowe's
//! memoisation of visited configurations, over a history partitioned by key, as
//! porcupine does).
//!
//! A history is what clients saw: each operation's call and return times, its input
//! and, when it returned, its output. An operation that failed for certain (refused
//! before it could take effect) is left out; one whose outcome is unknown (the node
//! stopped, the client gave up) has no return: it may take effect at any time after
//! its call, or never. The history is linearizable if every operation can be given one
//! instant between its call and return so that, in that order, the model's sequential
//! specification yields every output observed.

mod check;
mod register;
#[cfg(test)]
mod tests;

pub use check::{Verdict, check};
pub use register::{KeyValue, KvInput, KvOutput};

use serde::{Deserialize, Serialize};

/// One operation of a client history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation<I, O> {
    /// Who made it, for reading a failure (the check does not rely on it: one
    /// client's operations may overlap).
    pub client: u64,
    /// When it was called, in microseconds.
    pub call_us: u64,
    /// When it returned, if it did; with its output.
    pub returned: Option<(u64, O)>,
    /// What was asked.
    pub input: I,
}

/// A sequential specification of an object, and how a history of it splits into
/// independent parts (the object is linearizable if each part is).
pub trait Model {
    /// The object's state.
    type State: Clone + Eq + std::hash::Hash + std::fmt::Debug;
    /// An operation's input.
    type Input: Clone + std::fmt::Debug;
    /// An operation's output.
    type Output: Clone + std::fmt::Debug;

    /// The state before any operation.
    fn initial() -> Self::State;

    /// The state after `input` is applied to `state`, if it can give `output`
    /// (`None` output: the operation did not return, any output will do).
    fn step(state: &Self::State, input: &Self::Input, output: Option<&Self::Output>) -> Option<Self::State>;

    /// The key an operation touches: operations on different keys are independent.
    fn key(input: &Self::Input) -> String;

    /// Whether every output in `history` could come from its own operations (a read's
    /// value from a write in it). A minimal failing sub-history keeps this, so it
    /// shows the operations that conflict rather than a read cut off from its write.
    fn self_contained(history: &[Operation<Self::Input, Self::Output>]) -> bool {
        let _ = history;
        true
    }
}

//! The cluster state as clients see it, modelled as a map of registers: a policy's
//! document, an artifact's residency on a node, a node's membership. Each key is
//! independent, so a history is checked key by key.

use serde::{Deserialize, Serialize};

use super::{Model, Operation};

/// Registers by key; the state of one key's part of a history is its value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyValue;

/// What a client asks of a key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KvInput {
    /// Set the key to `value` (`None`: remove it).
    Write {
        /// The key.
        key: String,
        /// The value.
        value: Option<String>,
    },
    /// Read the key.
    Read {
        /// The key.
        key: String,
    },
}

/// What a client was answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KvOutput {
    /// The write took effect.
    Written,
    /// The value read (`None`: the key is absent).
    Value(Option<String>),
}

impl Model for KeyValue {
    type State = Option<String>;
    type Input = KvInput;
    type Output = KvOutput;

    fn initial() -> Self::State {
        None
    }

    fn step(state: &Self::State, input: &KvInput, output: Option<&KvOutput>) -> Option<Self::State> {
        match (input, output) {
            (KvInput::Write { value, .. }, None | Some(KvOutput::Written)) => Some(value.clone()),
            (KvInput::Read { .. }, None) => Some(state.clone()),
            (KvInput::Read { .. }, Some(KvOutput::Value(read))) if read == state => Some(state.clone()),
            _ => None,
        }
    }

    fn key(input: &KvInput) -> String {
        match input {
            KvInput::Write { key, .. } | KvInput::Read { key } => key.clone(),
        }
    }

    fn self_contained(history: &[Operation<KvInput, KvOutput>]) -> bool {
        let written: Vec<&Option<String>> = history
            .iter()
            .filter_map(|operation| match &operation.input {
                KvInput::Write { value, .. } => Some(value),
                KvInput::Read { .. } => None,
            })
            .collect();
        history.iter().all(|operation| match &operation.returned {
            Some((_, KvOutput::Value(Some(value)))) => {
                written.iter().any(|written| written.as_deref() == Some(value.as_str()))
            }
            _ => true,
        })
    }
}

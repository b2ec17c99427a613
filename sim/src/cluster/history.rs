//! The clients' history: the workload's writes and linearizable reads from random
//! nodes, each with its call and return times, checked for linearizability at the end
//! (`crate::history`). A write refused for certain is left out; one whose outcome is
//! unknown never returns (it may or may not have taken effect). Every other read is
//! serializable: not linearizable by design, it must answer a state the committed log
//! gives at the index it names (checked as it returns).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use madsim::rand::seq::SliceRandom;
use psionic_core::digest::{Digest, DigestKind};
use psionic_core::{ClusterCommand, StateReport};
use psionic_net::{Committed, Consistency, NodeClient, ProposeError};

use super::SimCluster;
use crate::history::{KeyValue, KvInput, KvOutput, Operation, Verdict, check};
use crate::observer::Shared;
use crate::report::Violation;

/// Keys the workload writes: `workload-0` .. `workload-15`.
pub const WORKLOAD_KEYS: u64 = 16;

/// How long a reader waits for a linearizable read.
const READ_WITHIN: Duration = Duration::from_secs(2);

/// The client id readers record under (writes are client 0).
const READER: u64 = 1;

/// One operation of the clients' history.
pub type ClientOperation = Operation<KvInput, KvOutput>;

/// The history key of the policy `name`.
fn policy_key(name: &str) -> String {
    format!("policy/{name}")
}

/// The value a policy's document reads as.
fn policy_value(digest: Digest) -> String {
    hex::encode(digest.0)
}

/// A write's input, if `command` writes a key the history follows.
pub(super) fn write_of(command: &ClusterCommand) -> Option<KvInput> {
    let ClusterCommand::SetPolicy { name, document } = command else {
        return None;
    };
    Some(KvInput::Write {
        key: policy_key(name),
        value: Some(policy_value(Digest::of_bytes(DigestKind::Policy, document))),
    })
}

/// Records the call of the write `input` now: until it is answered, its outcome is
/// unknown (a run may end first). Returns its place in the history.
pub(super) fn call_write(shared: &Shared, input: KvInput) -> usize {
    let call_us = shared.now_us();
    let mut state = shared.state();
    state.history.push(Operation {
        client: 0,
        call_us,
        returned: None,
        input,
    });
    state.history.len() - 1
}

/// Records the answer to the write at `place`: its return, or, if it was refused for
/// certain, that it never took effect.
pub(super) fn answer_write(shared: &Shared, place: usize, answer: &Result<Vec<Committed>, ProposeError>) {
    let now_us = shared.now_us();
    let mut state = shared.state();
    let Some(operation) = state.history.get_mut(place) else {
        return;
    };
    match answer {
        Ok(committed) if committed[0].refusal.is_none() => operation.returned = Some((now_us, KvOutput::Written)),
        Err(ProposeError::Unknown) => {}
        Err(ProposeError::Rejected(reason)) if !reason.is_certain() => {}
        // Refused for certain: it never took effect (a read can only have seen the
        // same value written by another operation, which the key's history holds).
        Ok(_) | Err(ProposeError::Rejected(_) | ProposeError::NotRunning) => {
            operation.input = refused(&operation.input);
        }
    }
}

/// A refused write, kept in place (indexes stay valid) as a read that constrains
/// nothing: it never returned.
fn refused(input: &KvInput) -> KvInput {
    match input {
        KvInput::Write { key, .. } | KvInput::Read { key } => KvInput::Read { key: key.clone() },
    }
}

impl SimCluster {
    /// Starts a client that reads the state from a random live node `rate_per_s`
    /// times per simulated second while `running` holds, linearizably and
    /// serializably in turn.
    pub(super) fn start_readers(&self, rate_per_s: u64, running: Arc<AtomicBool>) {
        let shared = self.shared.clone();
        self.spawn_paced(rate_per_s, running, move |seq| {
            let client = {
                let state = shared.state();
                let clients: Vec<(&String, &NodeClient)> = state.clients.iter().collect();
                clients
                    .choose(&mut madsim::rand::thread_rng())
                    .map(|(name, client)| ((*name).clone(), (*client).clone()))
            };
            let Some((node, client)) = client else { return };
            let shared = shared.clone();
            let consistency = match seq % 2 {
                0 => Consistency::Linearizable,
                _ => Consistency::Serializable,
            };
            madsim::task::spawn(async move {
                let call_us = shared.now_us();
                let read = tokio::time::timeout(READ_WITHIN, client.read_state(consistency)).await;
                match (read, consistency) {
                    (Ok(Ok(report)), Consistency::Linearizable) => record_reads(&shared, call_us, &report),
                    (Ok(Ok(report)), Consistency::Serializable) => check_serializable(&shared, &node, &report),
                    _ => {}
                }
            });
        });
    }

    /// Checks the clients' history for linearizability (a violation if it is not).
    pub fn check_history(&self) -> usize {
        let history = self.shared.state().history.clone();
        // A read that never returned (a refused write is kept as one) constrains
        // nothing: it is left out of the search, which it would only widen.
        let constraining: Vec<_> = history
            .iter()
            .filter(|operation| operation.returned.is_some() || !matches!(operation.input, KvInput::Read { .. }))
            .cloned()
            .collect();
        if let Verdict::NotLinearizable { key, minimal } = check::<KeyValue>(&constraining) {
            let operations = minimal.iter().map(describe).collect();
            self.violate(Violation::NotLinearizable { key, operations });
        }
        history.len()
    }
}

/// Records one read of every workload key, as the report answered.
fn record_reads(shared: &Shared, call_us: u64, report: &StateReport) {
    let return_us = shared.now_us();
    let mut state = shared.state();
    for key in 0..WORKLOAD_KEYS {
        let name = format!("workload-{key}");
        let value = report.policies.get(&name).copied().map(policy_value);
        state.history.push(Operation {
            client: READER,
            call_us,
            returned: Some((return_us, KvOutput::Value(value))),
            input: KvInput::Read { key: policy_key(&name) },
        });
    }
}

/// A serializable answer must hold the state applying the committed log up to its
/// applied index gives (where some node applied that index and said its digest).
fn check_serializable(shared: &Shared, node: &str, report: &StateReport) {
    let mut state = shared.state();
    let index = report.applied_index;
    let Some(committed) = state.invariants.committed.state_digest_at(index) else {
        return;
    };
    if committed != report.state_digest {
        state.violations.push(Violation::ServedUncommittedState {
            node: node.to_owned(),
            index,
            digest: report.state_digest,
            committed,
        });
    }
}

/// One line for an operation of a failing sub-history.
fn describe(operation: &ClientOperation) -> String {
    let input = match &operation.input {
        KvInput::Write { key, value } => format!("write {key} = {}", short(value.as_deref())),
        KvInput::Read { key } => format!("read {key}"),
    };
    let output = match &operation.returned {
        None => "never returned".to_owned(),
        Some((at, KvOutput::Written)) => format!("returned at {at} us: written"),
        Some((at, KvOutput::Value(value))) => format!("returned at {at} us: {}", short(value.as_deref())),
    };
    format!(
        "client {} called at {} us: {input}, {output}",
        operation.client, operation.call_us
    )
}

fn short(value: Option<&str>) -> String {
    value.map_or_else(|| "(absent)".to_owned(), |value| value.chars().take(12).collect())
}

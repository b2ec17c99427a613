//! Client histories of real processes: policy writes and linearizable reads through
//! the operator API, each with its call and return times, checked with the
//! simulator's linearizability checker (`psionic_sim::history`).
//!
//! A write answered `committed` returned; one answered with a certain refusal (not
//! the leader, rejected, refused when applied) never took effect and is kept as a
//! read that constrains nothing; one whose outcome is unknown (`unknown`, the node
//! died, the connection broke) never returns: it may take effect at any time after
//! its call, or never. A read records one operation per policy it follows.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use psionic_core::state::ClusterCommand;
use psionic_core::{Digest, DigestKind};
use psionic_net::api::{CommandAnswer, Reply, StateAnswer, StateRead};
use psionic_sim::history::{KeyValue, KvInput, KvOutput, Operation, Verdict, check};

use crate::client;

/// One operation of a history.
pub type ClientOperation = Operation<KvInput, KvOutput>;

/// The history of every client of one test, in call order per client.
#[derive(Debug)]
pub struct ClientHistory {
    started: Instant,
    operations: Mutex<Vec<ClientOperation>>,
}

impl Default for ClientHistory {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            operations: Mutex::new(Vec::new()),
        }
    }
}

/// What a write's answer says about its effect.
enum WriteOutcome {
    Written,
    NeverTookEffect,
    Unknown,
}

impl ClientHistory {
    /// Sets policy `name` to `document` through the node at `operator`, as `client`;
    /// records it and returns the status and the route's answer (`None`: no whole
    /// answer came).
    pub fn write_policy(
        &self,
        client_id: u64,
        operator: SocketAddr,
        name: &str,
        document: &[u8],
    ) -> Option<(u16, Option<CommandAnswer>)> {
        let command = ClusterCommand::SetPolicy {
            name: name.to_owned(),
            document: document.to_vec(),
        };
        let place = self.call(
            client_id,
            KvInput::Write {
                key: name.to_owned(),
                value: Some(policy_value(document)),
            },
        );
        let answer = client(operator)
            .command(&command)
            .ok()
            .map(|answer| (answer.status, answer.answer()));
        let outcome = match answer.as_ref().map(|(_, answer)| answer) {
            Some(Some(CommandAnswer::Committed { .. })) => WriteOutcome::Written,
            Some(Some(
                CommandAnswer::NotLeader { .. } | CommandAnswer::Rejected { .. } | CommandAnswer::Refused { .. },
            )) => WriteOutcome::NeverTookEffect,
            _ => WriteOutcome::Unknown,
        };
        self.answer_write(place, outcome);
        answer
    }

    /// Reads the state linearizably through the node at `operator`, as `client`; an
    /// answered read records the value of each of `names`. Returns the answer.
    pub fn read_policies(&self, client_id: u64, operator: SocketAddr, names: &[&str]) -> Option<StateRead> {
        let call_us = self.now_us();
        let answer = client(operator).state(psionic_net::Consistency::Linearizable).ok();
        let read = match answer {
            Some(answer) if answer.status == 200 => match answer.reply {
                Reply::Answer(StateAnswer::Read(read)) => Some(*read),
                _ => None,
            },
            _ => None,
        };
        if let Some(state) = &read {
            assert_eq!(state.consistency, psionic_net::Consistency::Linearizable);
            let return_us = self.now_us();
            let mut operations = self.operations.lock().unwrap();
            for name in names {
                let value = state.report.policies.get(*name).map(|digest| policy_text(*digest));
                operations.push(Operation {
                    client: client_id,
                    call_us,
                    returned: Some((return_us, KvOutput::Value(value))),
                    input: KvInput::Read {
                        key: (*name).to_owned(),
                    },
                });
            }
        }
        read
    }

    /// Operations recorded, and how many of them returned.
    pub fn counts(&self) -> (usize, usize) {
        let operations = self.operations.lock().unwrap();
        let returned = operations
            .iter()
            .filter(|operation| operation.returned.is_some())
            .count();
        (operations.len(), returned)
    }

    /// Writes answered `committed` so far.
    pub fn written(&self) -> usize {
        let operations = self.operations.lock().unwrap();
        operations
            .iter()
            .filter(|operation| matches!(operation.returned, Some((_, KvOutput::Written))))
            .count()
    }

    /// Panics with a minimal non-linearizable sub-history if the history is not
    /// linearizable; returns how many operations were checked.
    pub fn assert_linearizable(&self) -> usize {
        let operations = self.operations.lock().unwrap().clone();
        if let Verdict::NotLinearizable { key, minimal } = check::<KeyValue>(&operations) {
            let lines: Vec<String> = minimal.iter().map(|operation| format!("{operation:?}")).collect();
            panic!(
                "the clients' history of {key} is not linearizable:\n{}",
                lines.join("\n")
            );
        }
        operations.len()
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn call(&self, client: u64, input: KvInput) -> usize {
        let call_us = self.now_us();
        let mut operations = self.operations.lock().unwrap();
        operations.push(Operation {
            client,
            call_us,
            returned: None,
            input,
        });
        operations.len() - 1
    }

    fn answer_write(&self, place: usize, outcome: WriteOutcome) {
        let now_us = self.now_us();
        let mut operations = self.operations.lock().unwrap();
        let operation = &mut operations[place];
        match outcome {
            WriteOutcome::Written => operation.returned = Some((now_us, KvOutput::Written)),
            WriteOutcome::NeverTookEffect => {
                let KvInput::Write { key, .. } = &operation.input else {
                    return;
                };
                operation.input = KvInput::Read { key: key.clone() };
            }
            WriteOutcome::Unknown => {}
        }
    }
}

/// How a policy's document reads in `GET /v1/state`: its digest.
pub fn policy_value(document: &[u8]) -> String {
    policy_text(Digest::of_bytes(DigestKind::Policy, document))
}

/// A policy digest as the history records it.
fn policy_text(digest: Digest) -> String {
    digest.to_string()
}

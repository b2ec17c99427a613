//! The inference-request workload: a client submits requests to the node it believes
//! leads and submits again (same id) when the coordinator was deposed, stopped, or
//! did not lead. At the end every request must have ended exactly once: completed,
//! or refused with a reason; and no request may have completed on two nodes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use psionic_core::backend::Backend;
use psionic_core::dispatch::{InferenceRequest, RequestLane, RequestOutcome, RequestRefusal, SubmitRefusal};
use psionic_core::plan::{RequestNeeds, ServingPolicy};
use psionic_core::{ClusterCommand, RequestId};
use psionic_net::{NodeClient, SubmitError};
use serde::{Deserialize, Serialize};

use super::SimCluster;
use super::staging::model_artifact;
use crate::observer::Shared;
use crate::report::{RequestCounts, Violation};

/// Times one request is submitted before the client gives up.
pub const SUBMISSIONS_MAX: u32 = 8;
/// Pause before submitting again.
const RESUBMIT_AFTER: Duration = Duration::from_millis(250);
const GIB: u64 = 1024 * 1024 * 1024;

/// How a request ended, as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestEnd {
    /// A node ran it.
    Completed,
    /// Refused, with the coordinator's reason.
    Refused(RequestRefusal),
    /// Refused at submission.
    NotAccepted(SubmitRefusal),
    /// No coordinator accepted it in [`SUBMISSIONS_MAX`] tries.
    GaveUp,
}

/// What the client and the nodes' events tell of the requests.
#[derive(Debug, Default)]
pub struct RequestLedger {
    /// Submitted requests, with how each ended (none yet: in flight).
    pub ended: BTreeMap<RequestId, Option<RequestEnd>>,
    /// Nodes that reported completing each request.
    pub completed_on: BTreeMap<RequestId, Vec<String>>,
    /// Reroutes seen, by reason.
    pub reroutes: BTreeMap<String, u64>,
    /// Submissions answered `coordinator-deposed`.
    pub deposed: u64,
}

impl SimCluster {
    /// Commits `policy` as the cluster's serving policy, through the leader; false if
    /// no leader committed it within `within`.
    pub async fn set_serving_policy(&mut self, policy: ServingPolicy, within: Duration) -> bool {
        let command = ClusterCommand::SetServingPolicy { policy };
        self.commit(vec![command], within).await
    }

    /// Proposes `commands` to the node believed to lead until one commits them, for
    /// at most `within`.
    pub(super) async fn commit(&mut self, commands: Vec<ClusterCommand>, within: Duration) -> bool {
        let shared = self.shared.clone();
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if let Some(client) = leader_client(&shared)
                && client.propose(commands.clone()).await.is_ok()
            {
                return true;
            }
            tokio::time::sleep(RESUBMIT_AFTER).await;
        }
        false
    }

    /// Starts a client submitting `rate_per_s` requests per second for `model`, each
    /// needing `memory_gib` on one GPU (or running on the CPU), mixed as `mix` says,
    /// until [`SimCluster::stop_requests`].
    pub fn start_requests(&mut self, model: &str, rate_per_s: u64, memory_gib: u64, mix: RequestMix) {
        self.stop_requests();
        let running = Arc::new(AtomicBool::new(true));
        self.requests = Some(running.clone());
        let shared = self.shared.clone();
        let artifact = model_artifact(model);
        self.spawn_paced(rate_per_s, running, move |seq| {
            // With `forwarded`, odd requests are submitted through each node in turn
            // (forwarded by those that do not lead), from a node their second byte
            // picks; with `stream`, every other pair streams its tokens.
            let mut id = [0u8; 16];
            if mix.forwarded {
                id[0] = (seq % 2) as u8;
                id[1] = (seq / 2 % 251) as u8;
            }
            id[8..].copy_from_slice(&seq.to_be_bytes());
            let request = InferenceRequest {
                id: RequestId(id),
                lane: RequestLane::WholeRequest,
                needs: RequestNeeds {
                    artifact,
                    backends: vec![Backend::Cuda, Backend::Cpu],
                    device_memory_bytes: memory_gib * GIB,
                },
                prompt: format!("request {seq}").into_bytes(),
                max_tokens: 16,
                class: (seq % 3) as u8,
                hint: None,
                stream: mix.stream && seq % 4 >= 2,
                sampling: psionic_core::dispatch::Sampling::Greedy,
            };
            shared.state().requests.ended.insert(request.id, None);
            madsim::task::spawn(drive(shared.clone(), request));
        });
    }

    /// Stops submitting new requests (those submitted run to their end).
    pub fn stop_requests(&mut self) {
        if let Some(running) = self.requests.take() {
            running.store(false, Ordering::Relaxed);
        }
    }

    /// Whether a request workload ever submitted anything.
    pub fn requests_submitted(&self) -> bool {
        !self.shared.state().requests.ended.is_empty()
    }

    /// At the end: a violation for each request that never ended or completed on
    /// two nodes; the counts when a request workload ran.
    pub fn check_requests(&mut self) -> Option<RequestCounts> {
        let mut state = self.shared.state();
        let ledger = &state.requests;
        if ledger.ended.is_empty() {
            return None;
        }
        let mut violations = Vec::new();
        for (request, end) in &ledger.ended {
            if end.is_none() {
                violations.push(Violation::RequestNeverEnded { request: *request });
            }
        }
        for (request, nodes) in &ledger.completed_on {
            if nodes.len() > 1 {
                violations.push(Violation::RequestRanTwice {
                    request: *request,
                    nodes: nodes.clone(),
                });
            }
        }
        let ended = |wanted: fn(&RequestEnd) -> bool| {
            ledger
                .ended
                .values()
                .filter(|end| end.as_ref().is_some_and(wanted))
                .count() as u64
        };
        let mut refusals = BTreeMap::new();
        for end in ledger
            .ended
            .values()
            .flatten()
            .filter(|end| **end != RequestEnd::Completed)
        {
            *refusals.entry(end_reason(end)).or_default() += 1;
        }
        let counts = RequestCounts {
            refusals,
            submitted: ledger.ended.len() as u64,
            completed: ended(|end| *end == RequestEnd::Completed),
            refused: ended(|end| *end != RequestEnd::Completed),
            reroutes: ledger.reroutes.clone(),
            deposed: ledger.deposed,
        };
        state.violations.extend(violations);
        Some(counts)
    }
}

/// How a request workload mixes its requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestMix {
    /// Half of them are submitted through each node in turn.
    pub forwarded: bool,
    /// Half of them stream their tokens.
    pub stream: bool,
}

/// The client of the node that leads by its own account, if any.
pub(super) fn leader_client(shared: &Shared) -> Option<NodeClient> {
    let state = shared.state();
    let leader = state.leaders.values().flatten().next().copied()?;
    let name = state
        .lives
        .iter()
        .find(|(name, (id, _))| *id == leader && state.leaders.get(*name).copied().flatten() == Some(leader))
        .map(|(name, _)| name.clone())?;
    state.clients.get(&name).cloned()
}

/// The client of the `turn`th node, in name order.
fn client_in_turn(shared: &Shared, turn: usize) -> Option<NodeClient> {
    let state = shared.state();
    let count = state.clients.len();
    state.clients.values().nth(turn % count.max(1)).cloned()
}

/// Submits `request` until it ends, at most [`SUBMISSIONS_MAX`] times: to the leader,
/// or (requests with an odd first id byte) to each node in turn, which forwards it to
/// its leader when it does not lead.
async fn drive(shared: Arc<Shared>, request: InferenceRequest) {
    let id = request.id;
    let through_leader = id.0[0] % 2 == 1;
    let mut end = RequestEnd::GaveUp;
    for attempt in 0..SUBMISSIONS_MAX {
        let client = match through_leader {
            true => client_in_turn(&shared, attempt as usize + usize::from(id.0[1])),
            false => leader_client(&shared),
        };
        let Some(client) = client else {
            tokio::time::sleep(RESUBMIT_AFTER).await;
            continue;
        };
        let submitted = match through_leader {
            true => client.submit_inference_through_leader(request.clone()).await,
            false => client.submit_inference(request.clone()).await,
        };
        match submitted {
            Ok((_, outcome)) => match outcome.await {
                Ok(RequestOutcome::Completed { .. }) => {
                    end = RequestEnd::Completed;
                    break;
                }
                Ok(RequestOutcome::Refused {
                    refusal: RequestRefusal::CoordinatorDeposed,
                }) => shared.state().requests.deposed += 1,
                Ok(RequestOutcome::Refused { refusal }) => {
                    end = RequestEnd::Refused(refusal);
                    break;
                }
                Err(_) => {}
            },
            Err(SubmitError::Refused(
                SubmitRefusal::NotLeader { .. }
                | SubmitRefusal::InFlight { .. }
                | SubmitRefusal::ForwardUnanswered { .. }
                | SubmitRefusal::LeaderSilent(_)
                | SubmitRefusal::TooManyForwarded { .. },
            ))
            | Err(SubmitError::Stopped) => {}
            Err(SubmitError::Refused(refusal)) => {
                end = RequestEnd::NotAccepted(refusal);
                break;
            }
        }
        tokio::time::sleep(RESUBMIT_AFTER).await;
    }
    shared.state().requests.ended.insert(id, Some(end));
}

/// A short name for how a request ended without completing (`refused/placement/...`).
fn end_reason(end: &RequestEnd) -> String {
    let mut words = Vec::new();
    let mut value = serde_json::to_value(end).unwrap_or_default();
    loop {
        match value {
            serde_json::Value::Object(map) => match map.into_iter().next() {
                Some((key, inner)) => {
                    words.push(key);
                    value = inner;
                }
                None => break,
            },
            serde_json::Value::String(word) => {
                words.push(word);
                break;
            }
            _ => break,
        }
    }
    words.truncate(3);
    words.join("/")
}

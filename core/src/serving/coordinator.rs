//! The coordinator's side: placing, assigning, following and rerouting requests, and
//! signing the evidence of each completion. Only a leader coordinates; its requests
//! end `coordinator-deposed` when its leadership does.

use super::ClusterView;
use super::ServingEvent;
use super::kept::Kept;
use crate::dispatch::Token;
use crate::serving::ServingRefusal;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{DispatchMessage, Serving, StampedDecision};
use crate::consensus::endorsement::LeadershipCertificate;
use crate::consensus::{Authority, Fence};
use crate::digest::{Digest, DigestKind};
use crate::dispatch::{
    Assignment, CancelRefusal, ExecutionError, ExecutionReport, InferenceRequest, ModelRefusal, RequestLane,
    RequestOutcome, RequestRefusal, ShapeRefusal, SubmitRefusal,
};
use crate::identity::{NodeId, RequestId};
use crate::plan::{
    CandidateIndex, ClusterExecutionContext, ExecutionTopologyPlan, FactDigests, FactProvenance, Placement,
    PlacementRefusal, Reroute, RerouteReason, ServingPolicy, SignedEvidence, place_replicated, place_whole_request,
};
use crate::transport::TransportClass;

use crate::serving::Decision;
use crate::time::Instant;

/// Completions under earlier coordinators remembered at most.
const COMPLETED_EARLIER_MAX: usize = 4_096;

/// A request between assignment and report.
#[derive(Clone, Debug)]
struct InFlight {
    request: InferenceRequest,
    placement: Placement,
    state_digest: Digest,
    provenance: FactProvenance,
    node: NodeId,
    excluded: BTreeSet<NodeId>,
    reroutes: Vec<Reroute>,
    authority: Authority,
    /// The signed votes that elected the leader that issued `authority`.
    certificate: Arc<LeadershipCertificate>,
    /// Tokens of the current run passed on so far: the least offset taken next.
    streamed: u32,
}

/// A completion an executor reported under an earlier coordinator.
#[derive(Clone, Debug)]
struct EarlierCompletion {
    node: NodeId,
    tokens: Vec<Token>,
    plan: ExecutionTopologyPlan,
}

/// The coordinator's requests in flight (volatile: dropped when the leadership they
/// were assigned under ends), and what it remembers of requests that ended under it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Coordinator {
    in_flight: BTreeMap<RequestId, InFlight>,
    /// The term of the leadership the requests in flight were assigned under.
    term: Option<u64>,
    /// Requests completed under an earlier coordinator, as their executors reported
    /// them to this one (bounded).
    completed_earlier: Kept<EarlierCompletion, COMPLETED_EARLIER_MAX>,
    /// Fact digests by applied index, reused while the state does not move.
    pub(super) digests: Option<(u64, Digest, FactDigests)>,
    /// Candidates by model, kept while the state does not move.
    pub(super) index: Option<CandidateIndex>,
    /// Requests members forwarded, by the member their outcome goes back to.
    pub(super) answer_to: BTreeMap<RequestId, NodeId>,
    /// Requests that completed on this node's watch, kept across its leaderships,
    /// with where they ran last and their outcome (its evidence signed under the
    /// leadership that completed it): a request id names one request, and a
    /// submission of it again (a client's retry, a forward delayed on the way) is
    /// answered with that outcome, not run again.
    completed: Kept<(Placement, RequestOutcome), { super::COMPLETED_KEPT_MAX }>,
    /// How requests members forwarded ended, with the member answered: a member that
    /// lost the answer asks again ([`DispatchMessage::FollowUp`]).
    answered: Kept<(NodeId, RequestOutcome), { super::COMPLETED_KEPT_MAX }>,
}

impl Coordinator {
    /// Requests in flight, with the node running each.
    pub fn in_flight(&self) -> impl Iterator<Item = (RequestId, NodeId)> + '_ {
        self.in_flight.iter().map(|(request, flight)| (*request, flight.node))
    }
}

impl Serving {
    /// Leader: places `request` and sends its assignment.
    pub(crate) fn submit(
        &mut self,
        now: Instant,
        raft: ClusterView<'_>,
        request: InferenceRequest,
    ) -> Result<Placement, SubmitRefusal> {
        let Ok(authority) = raft.authority() else {
            return Err(SubmitRefusal::NotLeader {
                leader_hint: raft.leader(),
            });
        };
        self.follow_leadership(raft);
        validate(&request)?;
        if self.coordinator.in_flight.contains_key(&request.id) {
            return Err(SubmitRefusal::InFlight { request: request.id });
        }
        if let Some((placement, outcome)) = self.coordinator.completed.get(&request.id).cloned() {
            self.end(request.id, outcome);
            return Ok(placement);
        }
        if let Some(earlier) = self.coordinator.completed_earlier.remove(&request.id) {
            return Ok(self.answer_completed_earlier(now, raft, authority, request, earlier));
        }
        let excluded = BTreeSet::new();
        let (placement, state_digest, provenance) = self.place(now, raft, &request, &excluded)?;
        let flight = InFlight {
            request,
            placement,
            state_digest,
            provenance,
            node: raft.id(),
            excluded,
            reroutes: Vec::new(),
            authority,
            certificate: raft.leadership_certificate(),
            streamed: 0,
        };
        let placement = flight.placement.clone();
        self.assign(flight);
        Ok(placement)
    }

    /// Leader: ends `request` as cancelled and tells its executing node to stop it.
    pub(crate) fn cancel(&mut self, raft: ClusterView<'_>, request: RequestId) -> Result<(), CancelRefusal> {
        if !raft.is_leader() {
            return Err(CancelRefusal::NotLeader {
                leader_hint: raft.leader(),
            });
        }
        self.follow_leadership(raft);
        let flight = self
            .coordinator
            .in_flight
            .remove(&request)
            .ok_or(CancelRefusal::NotInFlight { request })?;
        self.stop_on(&flight);
        self.finish(request, RequestRefusal::Cancelled);
        Ok(())
    }

    /// Leader: what an executing node reported about `request`.
    pub(crate) fn on_execution_report(&mut self, now: Instant, raft: ClusterView<'_>, report: ReportFrom) {
        let ReportFrom {
            from,
            request,
            fence,
            report,
        } = report;
        // The result's digest is the one the tokens give (the evidence is signed over
        // that, whatever digest the executor reported).
        if let ExecutionReport::CompletedEarlier { tokens, plan, .. } = report {
            if let Err(refusal) = self.check_earlier_completer(raft, from, request) {
                return self.effects.push(super::ServingEffect::Refuse(refusal));
            }
            let earlier = EarlierCompletion {
                node: from,
                tokens,
                plan: *plan,
            };
            return self.note_completed_earlier(raft, request, earlier);
        }
        self.follow_leadership(raft);
        let assignee = self.coordinator.in_flight.get(&request).map(|flight| flight.node);
        if raft.is_leader() && assignee.is_some_and(|assignee| assignee != from) {
            let refusal = ServingRefusal::NotTheAssignee {
                sender: from,
                request,
                assignee,
            };
            return self.effects.push(super::ServingEffect::Refuse(refusal));
        }
        let current = self
            .coordinator
            .in_flight
            .get(&request)
            .is_some_and(|flight| flight.node == from && flight.authority.fence == fence);
        if !raft.is_leader() || !current {
            return;
        }
        let flight = self.coordinator.in_flight.remove(&request).expect("checked above");
        match report {
            ExecutionReport::Completed { tokens, .. } => {
                let (node, plan) = (flight.node, flight.placement.plan.clone());
                self.complete_with(raft, flight, node, tokens, plan);
            }
            ExecutionReport::Refused(_) => self.reroute(now, raft, flight, RerouteReason::AssignmentRefused),
            ExecutionReport::CompletedEarlier { .. } => unreachable!("handled above"),
            // Another node may take what this node's queue or disk could not.
            ExecutionReport::Failed(
                ExecutionError::Queue(_)
                | ExecutionError::Model(ModelRefusal::NotHeld { .. } | ModelRefusal::Unloadable { .. }),
            ) => {
                self.reroute(now, raft, flight, RerouteReason::ExecutionFailed);
            }
            ExecutionReport::Failed(error) => self.finish(flight.request.id, RequestRefusal::Execution(error)),
        }
    }

    /// Leader: tokens the executing node of a streaming request produced, passed on to
    /// the node that took the request. Only the assignee under the request's fence is
    /// heard (another sender is refused, as its reports are), and of each run only
    /// tokens past those passed on already and within the request's `max_tokens`: an
    /// assignee relays at most that much per run.
    pub(crate) fn on_tokens(&mut self, raft: ClusterView<'_>, from: NodeId, streamed: StreamedTokens) {
        let StreamedTokens {
            request,
            fence,
            offset,
            tokens,
        } = streamed;
        if !raft.is_leader() {
            return;
        }
        let Some(flight) = self.coordinator.in_flight.get_mut(&request) else {
            return;
        };
        if flight.node != from {
            let refusal = ServingRefusal::NotTheAssignee {
                sender: from,
                request,
                assignee: Some(flight.node),
            };
            return self.effects.push(super::ServingEffect::Refuse(refusal));
        }
        let end = u64::from(offset).saturating_add(tokens.len() as u64);
        let wanted = flight.authority.fence == fence && flight.request.stream && !tokens.is_empty();
        if !wanted || offset < flight.streamed || end > u64::from(flight.request.max_tokens) {
            return;
        }
        flight.streamed = u32::try_from(end).unwrap_or(u32::MAX);
        let node = flight.node;
        match self.coordinator.answer_to.get(&request) {
            Some(member) => {
                let streamed = DispatchMessage::Streamed {
                    request,
                    node,
                    offset,
                    tokens,
                };
                self.send(*member, streamed);
            }
            None => self.event(ServingEvent::TokensProduced {
                request,
                node,
                offset,
                tokens,
            }),
        }
    }

    /// Leader, on each maintenance round, while it hears a quorum of voters (a leader
    /// cut off from the cluster hears no one, and must not take everyone's silence for
    /// their loss): reroutes requests whose node has not answered for an election
    /// timeout; or, when the serving policy says not to (`reroute_lost` off), ends
    /// those whose node has not answered for `lost_wait_ms` as `executor-lost`.
    pub(crate) fn reroute_lost(&mut self, now: Instant, raft: ClusterView<'_>) {
        self.follow_leadership(raft);
        if self.coordinator.in_flight.is_empty() {
            return;
        }
        let policy = ServingPolicy::from_state(raft.state());
        let silent = super::facts::silence(raft, now);
        let voters = raft.effective_voters();
        let heard = voters.iter().filter(|voter| !silent.contains(voter)).count();
        if heard <= voters.len() / 2 {
            return;
        }
        let silent = if policy.reroute_lost {
            silent
        } else {
            super::facts::silent_for(raft, now, u64::from(policy.lost_wait_ms))
        };
        let lost: Vec<RequestId> = self
            .coordinator
            .in_flight
            .iter()
            .filter(|(_, flight)| silent.contains(&flight.node))
            .map(|(request, _)| *request)
            .collect();
        for request in lost {
            let flight = self.coordinator.in_flight.remove(&request).expect("listed above");
            if policy.reroute_lost {
                self.reroute(now, raft, flight, RerouteReason::NodeLost);
            } else {
                self.stop_on(&flight);
                self.finish(request, RequestRefusal::ExecutorLost { node: flight.node });
            }
        }
    }

    /// Ends every request in flight as `coordinator-deposed` once the leadership they
    /// were assigned under is over (this node stepped down, or leads a later term).
    pub(crate) fn follow_leadership(&mut self, raft: ClusterView<'_>) {
        let leading = raft.authority().ok().map(|authority| authority.term);
        if self.coordinator.term == leading {
            return;
        }
        self.coordinator.term = leading;
        let requests: Vec<RequestId> = self.coordinator.in_flight.keys().copied().collect();
        self.coordinator.in_flight.clear();
        for request in requests {
            self.finish(request, RequestRefusal::CoordinatorDeposed);
        }
    }

    /// A completion under an earlier leadership comes from a member that executes
    /// (this leadership cannot know the assignment); if this leadership assigned the
    /// request since, the earlier completer may still be another node.
    fn check_earlier_completer(
        &self,
        raft: ClusterView<'_>,
        from: NodeId,
        request: RequestId,
    ) -> Result<(), ServingRefusal> {
        let executes = raft
            .effective_members()
            .get(&from)
            .is_some_and(|seat| seat.role.is_executor());
        if executes {
            return Ok(());
        }
        Err(ServingRefusal::NotTheAssignee {
            sender: from,
            request,
            assignee: self.coordinator.in_flight.get(&request).map(|flight| flight.node),
        })
    }

    /// Leader: an executor completed `request` under an earlier coordinator. If it is
    /// in flight here it ends with that result (its new run is stopped); otherwise
    /// the result answers its next submission.
    fn note_completed_earlier(&mut self, raft: ClusterView<'_>, request: RequestId, earlier: EarlierCompletion) {
        if !raft.is_leader() {
            return;
        }
        self.follow_leadership(raft);
        if let Some(flight) = self.coordinator.in_flight.remove(&request) {
            self.stop_on(&flight);
            return self.complete_with(raft, flight, earlier.node, earlier.tokens, earlier.plan);
        }
        self.coordinator.completed_earlier.insert(request, earlier);
    }

    /// Answers a submission of a request completed under an earlier coordinator with
    /// that result, attested under this leadership's authority.
    fn answer_completed_earlier(
        &mut self,
        now: Instant,
        raft: ClusterView<'_>,
        authority: Authority,
        request: InferenceRequest,
        earlier: EarlierCompletion,
    ) -> Placement {
        let inputs = self.planning_inputs(now, raft);
        let placement = Placement::new(&inputs.facts(raft, &self.coordinator), earlier.plan.clone(), &[]);
        let executing: Vec<NodeId> = earlier.plan.executing().iter().map(|selected| selected.node).collect();
        let provenance = FactProvenance {
            applied_index: raft.state().applied_index,
            applied_term: raft.state().applied_term,
            telemetry_age_ms: BTreeMap::new(),
            set_by: setters_of(raft, &executing, request.needs.artifact),
            devices: executed_devices(raft, &earlier.plan),
        };
        let flight = InFlight {
            request,
            placement: placement.clone(),
            state_digest: inputs.state_digest,
            provenance,
            node: earlier.node,
            excluded: BTreeSet::new(),
            reroutes: Vec::new(),
            authority,
            certificate: raft.leadership_certificate(),
            streamed: 0,
        };
        self.complete_with(raft, flight, earlier.node, earlier.tokens, earlier.plan);
        placement
    }

    /// Tells `flight`'s node to stop its request.
    fn stop_on(&mut self, flight: &InFlight) {
        let request = flight.request.id;
        let stamped = StampedDecision::new(flight.authority, Decision::Cancel { request });
        self.send(flight.node, DispatchMessage::Decision(stamped));
    }

    fn place(
        &mut self,
        now: Instant,
        raft: ClusterView<'_>,
        request: &InferenceRequest,
        excluded: &BTreeSet<NodeId>,
    ) -> Result<(Placement, Digest, FactProvenance), PlacementRefusal> {
        let inputs = self.planning_inputs(now, raft);
        let facts = inputs.facts(raft, &self.coordinator);
        let placement = match request.lane {
            RequestLane::WholeRequest => place_whole_request(&facts, &request.needs, excluded, request.hint.as_ref())?,
            RequestLane::Replicated => place_replicated(&facts, &request.needs, excluded)?,
        };
        let executing: Vec<NodeId> = placement
            .plan
            .executing()
            .iter()
            .map(|selected| selected.node)
            .collect();
        let telemetry_age_ms = executing
            .iter()
            .filter_map(|node| {
                let seen = raft.telemetry().get(node)?;
                Some((*node, now.saturating_since(seen.at).as_millis() as u64))
            })
            .collect();
        let provenance = FactProvenance {
            applied_index: raft.state().applied_index,
            applied_term: raft.state().applied_term,
            telemetry_age_ms,
            set_by: setters_of(raft, &executing, request.needs.artifact),
            devices: executed_devices(raft, &placement.plan),
        };
        Ok((placement, inputs.state_digest, provenance))
    }

    /// Sends `flight`'s assignment to the node its placement selects, and follows it.
    fn assign(&mut self, mut flight: InFlight) {
        let node = flight.placement.plan.executing()[0].node;
        flight.node = node;
        flight.streamed = 0;
        let assignment = Assignment {
            request: flight.request.id,
            plan: flight.placement.plan.clone(),
            plan_digest: flight.placement.plan_digest,
            prompt: flight.request.prompt.clone(),
            max_tokens: flight.request.max_tokens,
            class: flight.request.class,
            stream: flight.request.stream,
            sampling: flight.request.sampling,
        };
        let stamped = StampedDecision::new(flight.authority, Decision::Assign(Box::new(assignment)));
        self.coordinator.in_flight.insert(flight.request.id, flight);
        self.send(node, DispatchMessage::Decision(stamped));
    }

    fn reroute(&mut self, now: Instant, raft: ClusterView<'_>, mut flight: InFlight, reason: RerouteReason) {
        let request = flight.request.id;
        self.event(ServingEvent::RequestRerouted {
            request,
            from: flight.node,
            reason,
        });
        flight.excluded.insert(flight.node);
        flight.reroutes.push(Reroute {
            from: flight.node,
            reason,
        });
        match self.place(now, raft, &flight.request, &flight.excluded) {
            Ok((placement, state_digest, provenance)) => {
                flight.placement = placement;
                flight.state_digest = state_digest;
                flight.provenance = provenance;
                self.assign(flight);
            }
            Err(refusal) => self.finish(request, RequestRefusal::Placement(refusal)),
        }
    }

    /// Ends `flight` completed on `node` under `plan`, with signed evidence.
    fn complete_with(
        &mut self,
        raft: ClusterView<'_>,
        flight: InFlight,
        node: NodeId,
        tokens: Vec<Token>,
        plan: ExecutionTopologyPlan,
    ) {
        let context = ClusterExecutionContext {
            cluster_id: raft.cluster_id(),
            request: flight.request.id,
            prompt_digest: Digest::of_bytes(DigestKind::Prompt, &flight.request.prompt),
            sampling: flight.request.sampling,
            state_digest: flight.state_digest,
            topology_digest: flight.placement.topology_digest,
            residency_digest: flight.placement.residency_digest,
            policy_digest: flight.placement.policy_digest,
            plan_digest: plan.digest(),
            plan,
            transport: TransportClass::Stream,
            reroutes: flight.reroutes,
            authority: flight.authority,
            provenance: flight.provenance,
            result_digest: Some(crate::dispatch::output_digest(&tokens)),
            leadership: (*flight.certificate).clone(),
        };
        let evidence = Box::new(SignedEvidence::sign(context, &self.signer));
        let outcome = RequestOutcome::Completed { node, tokens, evidence };
        self.keep_completed(flight.request.id, flight.placement, outcome.clone());
        self.end(flight.request.id, outcome);
    }

    fn keep_completed(&mut self, request: RequestId, placement: Placement, outcome: RequestOutcome) {
        self.coordinator.completed.insert(request, (placement, outcome));
    }

    /// Ends `request` refused; a run of it on this node stops too.
    fn finish(&mut self, request: RequestId, refusal: RequestRefusal) {
        self.end(request, RequestOutcome::Refused { refusal });
        self.stop_job(request);
    }

    /// Reports how `request` ended, here and to the member that forwarded it.
    fn end(&mut self, request: RequestId, outcome: RequestOutcome) {
        if let Some(member) = self.coordinator.answer_to.remove(&request) {
            self.coordinator.answered.insert(request, (member, outcome.clone()));
            let outcome = Box::new(outcome.clone());
            self.send(member, DispatchMessage::Finished { request, outcome });
        }
        self.event(ServingEvent::RequestFinished { request, outcome });
    }

    /// Leader: a member asks how a request it forwarded ended. Not answered while it
    /// runs (or by a node that does not lead); answered with its outcome when it
    /// completed here, whoever took it; else with the answer that member was given;
    /// else `coordinator-deposed` (submit it again): this coordinator does not know
    /// it, or forgot it.
    pub(crate) fn on_follow_up(&mut self, raft: ClusterView<'_>, from: NodeId, request: RequestId) {
        if !raft.effective_members().contains_key(&from) {
            let refusal = crate::consensus::ConsensusRefusal::NotAMember {
                sender: from,
                message: crate::consensus::ConsensusMessageKind::Forward,
            };
            return self.effects.push(super::ServingEffect::Refuse(refusal.into()));
        }
        self.follow_leadership(raft);
        if !raft.is_leader() || self.coordinator.in_flight.contains_key(&request) {
            return;
        }
        let completed = self.coordinator.completed.get(&request).map(|(_, outcome)| outcome);
        let answered = self
            .coordinator
            .answered
            .get(&request)
            .filter(|(member, _)| *member == from)
            .map(|(_, outcome)| outcome);
        let outcome = completed.or(answered).cloned().unwrap_or(RequestOutcome::Refused {
            refusal: RequestRefusal::CoordinatorDeposed,
        });
        let outcome = Box::new(outcome);
        self.send(from, DispatchMessage::Finished { request, outcome });
    }
}

/// An executing node's report, with who sent it and the fence it answers.
#[derive(Clone, Debug)]
pub(crate) struct ReportFrom {
    pub from: NodeId,
    pub request: RequestId,
    pub fence: Fence,
    pub report: ExecutionReport,
}

/// Tokens an executing node streamed (see [`DispatchMessage::Tokens`]).
#[derive(Clone, Debug)]
pub(crate) struct StreamedTokens {
    pub request: RequestId,
    pub fence: Fence,
    pub offset: u32,
    pub tokens: Vec<Token>,
}

/// Who set each fact a plan running `artifact` on `nodes` relied on: their membership
/// and backend readiness, the artifact's residency there, its replica set and the
/// serving policy.
fn setters_of(raft: ClusterView<'_>, nodes: &[NodeId], artifact: Digest) -> BTreeMap<String, crate::state::SetBy> {
    let set_by = &raft.state().set_by;
    let mut keys = vec![
        crate::state::SERVING_POLICY_FACT.to_owned(),
        format!("replica-set/{artifact}"),
    ];
    for node in nodes {
        keys.push(format!("member/{node}"));
        keys.push(format!("residency/{node}/{artifact}"));
    }
    let mut setters: BTreeMap<String, crate::state::SetBy> = keys
        .into_iter()
        .filter_map(|key| set_by.get(&key).map(|setter| (key, setter.clone())))
        .collect();
    for node in nodes {
        let prefix = format!("readiness/{node}/");
        let readiness = set_by
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix));
        setters.extend(readiness.map(|(key, setter)| (key.clone(), setter.clone())));
    }
    setters
}

fn validate(request: &InferenceRequest) -> Result<(), SubmitRefusal> {
    ShapeRefusal::check(request.prompt.len(), request.max_tokens)?;
    request.sampling.check()?;
    if request.needs.backends.is_empty() {
        return Err(SubmitRefusal::NoBackend);
    }
    Ok(())
}

/// The devices `plan` runs on, each with its profile as the applied state records it.
fn executed_devices(raft: ClusterView<'_>, plan: &ExecutionTopologyPlan) -> Vec<crate::plan::ExecutedDevice> {
    let backends = &raft.state().backends;
    plan.executing()
        .into_iter()
        .map(|selected| {
            let recorded = backends.get(&selected.node).and_then(|by| by.get(&selected.backend));
            let profile = match (recorded, selected.device) {
                (Some(crate::backend::BackendReadiness::Ready { devices, .. }), Some(ordinal)) => {
                    devices.iter().find(|device| device.ordinal == ordinal).cloned()
                }
                _ => None,
            };
            crate::plan::ExecutedDevice {
                node: selected.node,
                backend: selected.backend,
                profile,
            }
        })
        .collect()
}

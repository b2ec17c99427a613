//! The coordinator's side: placing, assigning, following and rerouting requests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{
    Assignment, CancelRefusal, ExecutionError, ExecutionReport, InferenceRequest, RequestLane, RequestOutcome,
    RequestRefusal, ShapeRefusal, SubmitRefusal,
};
use crate::consensus::endorsement::LeadershipCertificate;
use crate::consensus::{Authority, Consensus, Decision, Effect, Fence, RaftMessage, StampedDecision};
use crate::digest::{Digest, DigestKind};
use crate::identity::{NodeId, NodeIdentity, RequestId};
use crate::io::{Event, TransportClass};
use crate::plan::{
    CandidateIndex, ClusterExecutionContext, ExecutionTopologyPlan, FactDigests, FactProvenance, Placement,
    PlacementRefusal, Reroute, RerouteReason, ServingPolicy, SignedEvidence, place_replicated, place_whole_request,
};
use crate::refusal::Refusal;
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
}

/// The coordinator's requests in flight (volatile: a new leader starts empty).
#[derive(Clone, Debug, Default)]
pub struct Dispatcher {
    in_flight: BTreeMap<RequestId, InFlight>,
    signer: Option<NodeIdentity>,
    /// Requests completed under an earlier coordinator, as their executors reported
    /// them to this one (volatile; bounded).
    completed_earlier: BTreeMap<RequestId, (NodeId, Vec<u8>, ExecutionTopologyPlan)>,
    /// Fact digests by applied index, reused while the state does not move.
    pub(super) digests: Option<(u64, Digest, FactDigests)>,
    /// Candidates by model, kept while the state does not move.
    pub(super) index: Option<CandidateIndex>,
}

impl Dispatcher {
    /// Who signs this node's evidence (and its votes), if anyone.
    pub(crate) fn signer(&self) -> Option<&NodeIdentity> {
        self.signer.as_ref()
    }

    /// Signs evidence (and votes) as `identity` from now on: the node's key rotated.
    pub(crate) fn set_signer(&mut self, identity: NodeIdentity) {
        self.signer = Some(identity);
    }

    /// Signs evidence as `identity` (the node's own).
    pub fn with_signer(identity: NodeIdentity) -> Self {
        Self {
            signer: Some(identity),
            ..Self::default()
        }
    }

    /// Requests in flight, with the node running each.
    pub fn in_flight(&self) -> impl Iterator<Item = (RequestId, NodeId)> + '_ {
        self.in_flight.iter().map(|(request, flight)| (*request, flight.node))
    }
}

impl Consensus {
    /// Leader: places `request` and sends its assignment.
    pub(crate) fn submit_request(
        &mut self,
        now: Instant,
        request: InferenceRequest,
    ) -> Result<Placement, SubmitRefusal> {
        if !self.is_leader() {
            return Err(SubmitRefusal::NotLeader {
                leader_hint: self.leader,
            });
        }
        validate(&request)?;
        if self.dispatch.in_flight.contains_key(&request.id) {
            return Err(SubmitRefusal::InFlight { request: request.id });
        }
        if let Some((node, tokens, plan)) = self.dispatch.completed_earlier.remove(&request.id) {
            return Ok(self.answer_completed_earlier(now, request, node, tokens, plan));
        }
        let excluded = BTreeSet::new();
        let (placement, state_digest, provenance) = self.place(now, &request, &excluded)?;
        self.assign(
            request,
            placement.clone(),
            state_digest,
            provenance,
            excluded,
            Vec::new(),
        );
        Ok(placement)
    }

    /// Leader: ends `request` as cancelled and tells its executing node to stop it.
    pub(crate) fn cancel_request(&mut self, request: RequestId) -> Result<(), CancelRefusal> {
        if !self.is_leader() {
            return Err(CancelRefusal::NotLeader {
                leader_hint: self.leader,
            });
        }
        let flight = self
            .dispatch
            .in_flight
            .remove(&request)
            .ok_or(CancelRefusal::NotInFlight { request })?;
        self.stop_on(flight.node, request);
        self.finish(request, RequestRefusal::Cancelled);
        Ok(())
    }

    /// Leader: what an executing node reported about `request`.
    pub(crate) fn on_execution_report(
        &mut self,
        now: Instant,
        from: NodeId,
        request: RequestId,
        fence: Fence,
        report: ExecutionReport,
    ) {
        // The result's digest is the one the tokens give (the evidence is signed over
        // that, whatever digest the executor reported).
        if let ExecutionReport::CompletedEarlier { tokens, plan, .. } = report {
            if let Err(refusal) = self.check_earlier_completer(from, request) {
                return self.effects.push(Effect::Refuse(refusal));
            }
            return self.note_completed_earlier(request, from, tokens, *plan);
        }
        let assignee = self.dispatch.in_flight.get(&request).map(|flight| flight.node);
        if self.is_leader() && assignee.is_some_and(|assignee| assignee != from) {
            let refusal = Refusal::NotTheAssignee {
                sender: from,
                request,
                assignee,
            };
            return self.effects.push(Effect::Refuse(refusal));
        }
        let current = self
            .dispatch
            .in_flight
            .get(&request)
            .is_some_and(|flight| flight.node == from && flight.authority.fence == fence);
        if !self.is_leader() || !current {
            return;
        }
        let flight = self.dispatch.in_flight.remove(&request).expect("checked above");
        match report {
            ExecutionReport::Completed { tokens, .. } => {
                let (node, plan) = (flight.node, flight.placement.plan.clone());
                self.complete_with(flight, node, tokens, plan);
            }
            ExecutionReport::Refused(_) => self.reroute(now, flight, RerouteReason::AssignmentRefused),
            ExecutionReport::CompletedEarlier { .. } => unreachable!("handled above"),
            ExecutionReport::Failed(ExecutionError::Queue(_)) => {
                self.reroute(now, flight, RerouteReason::ExecutionFailed);
            }
            ExecutionReport::Failed(error) => self.finish(flight.request.id, RequestRefusal::Execution(error)),
        }
    }

    /// Leader, on each heartbeat, while it hears a quorum of voters (a leader cut off
    /// from the cluster hears no one, and must not take everyone's silence for their
    /// loss): reroutes requests whose node has not answered for an election timeout;
    /// or, when the serving policy says not to (`reroute_lost` off), ends those whose
    /// node has not answered for `lost_wait_ms` as `executor-lost`.
    pub(crate) fn reroute_lost_assignments(&mut self, now: Instant) {
        if self.dispatch.in_flight.is_empty() {
            return;
        }
        let policy = ServingPolicy::from_state(&self.state);
        let silent = self.silence(now);
        let voters = self.effective_voters();
        let heard = voters.iter().filter(|voter| !silent.contains(voter)).count();
        if heard <= voters.len() / 2 {
            return;
        }
        let silent = if policy.reroute_lost {
            silent
        } else {
            self.silent_for(now, u64::from(policy.lost_wait_ms))
        };
        let lost: Vec<RequestId> = self
            .dispatch
            .in_flight
            .iter()
            .filter(|(_, flight)| silent.contains(&flight.node))
            .map(|(request, _)| *request)
            .collect();
        for request in lost {
            let flight = self.dispatch.in_flight.remove(&request).expect("listed above");
            if policy.reroute_lost {
                self.reroute(now, flight, RerouteReason::NodeLost);
            } else {
                self.stop_on(flight.node, request);
                self.finish(request, RequestRefusal::ExecutorLost { node: flight.node });
            }
        }
    }

    /// Leader: an executor completed `request` under an earlier coordinator. If it is
    /// in flight here it ends with that result (its new run is stopped); otherwise
    /// the result answers its next submission.
    /// A completion under an earlier leadership comes from a member that executes
    /// (this leadership cannot know the assignment); if this leadership assigned the
    /// request since, the earlier completer may still be another node.
    fn check_earlier_completer(&self, from: NodeId, request: RequestId) -> Result<(), Refusal> {
        let executes = self
            .effective_members()
            .get(&from)
            .is_some_and(|seat| seat.role.is_executor());
        if executes {
            return Ok(());
        }
        Err(Refusal::NotTheAssignee {
            sender: from,
            request,
            assignee: self.dispatch.in_flight.get(&request).map(|flight| flight.node),
        })
    }

    fn note_completed_earlier(
        &mut self,
        request: RequestId,
        node: NodeId,
        tokens: Vec<u8>,
        plan: ExecutionTopologyPlan,
    ) {
        if !self.is_leader() {
            return;
        }
        if let Some(flight) = self.dispatch.in_flight.remove(&request) {
            self.stop_on(flight.node, request);
            return self.complete_with(flight, node, tokens, plan);
        }
        if self.dispatch.completed_earlier.len() >= COMPLETED_EARLIER_MAX
            && let Some(oldest) = self.dispatch.completed_earlier.keys().next().copied()
        {
            self.dispatch.completed_earlier.remove(&oldest);
        }
        self.dispatch.completed_earlier.insert(request, (node, tokens, plan));
    }

    /// Answers a submission of a request completed under an earlier coordinator with
    /// that result, attested under this leadership's authority.
    fn answer_completed_earlier(
        &mut self,
        now: Instant,
        request: InferenceRequest,
        node: NodeId,
        tokens: Vec<u8>,
        plan: ExecutionTopologyPlan,
    ) -> Placement {
        let inputs = self.planning_inputs(now);
        let placement = Placement::new(&inputs.facts(self), plan.clone(), &[]);
        let provenance = FactProvenance {
            applied_index: self.state.applied_index,
            applied_term: self.state.applied_term,
            telemetry_age_ms: BTreeMap::new(),
            set_by: self.setters_of(
                &plan
                    .executing()
                    .iter()
                    .map(|selected| selected.node)
                    .collect::<Vec<_>>(),
                request.needs.artifact,
            ),
        };
        let authority = self.authority_of(self.id);
        let flight = InFlight {
            request,
            placement: placement.clone(),
            state_digest: inputs.state_digest,
            provenance,
            node,
            excluded: BTreeSet::new(),
            reroutes: Vec::new(),
            authority,
            certificate: self.leadership_certificate(),
        };
        self.complete_with(flight, node, tokens, plan);
        placement
    }

    /// Who set each fact a plan running `artifact` on `nodes` relied on: their
    /// membership and backend readiness, the artifact's residency there, its replica
    /// set and the serving policy.
    fn setters_of(&self, nodes: &[NodeId], artifact: Digest) -> BTreeMap<String, crate::state::SetBy> {
        let set_by = &self.state.set_by;
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

    /// Sends `stamped` to `node` (handled here when it is this node).
    fn deliver_decision(&mut self, node: NodeId, stamped: StampedDecision) {
        if node == self.id {
            self.on_decision(node, stamped);
        } else {
            self.effects.push(Effect::Send {
                to: node,
                message: RaftMessage::Decision(stamped),
            });
        }
    }

    /// Tells `node` to stop `request` (handled here when it is this node).
    fn stop_on(&mut self, node: NodeId, request: RequestId) {
        let stamped = self.stamp(Decision::Cancel { request }).expect("only a leader cancels");
        self.deliver_decision(node, stamped);
    }

    /// On losing leadership: every request in flight ends refused.
    pub(crate) fn abandon_requests(&mut self) {
        let requests: Vec<RequestId> = self.dispatch.in_flight.keys().copied().collect();
        self.dispatch.in_flight.clear();
        for request in requests {
            self.finish(request, RequestRefusal::CoordinatorDeposed);
        }
    }

    fn place(
        &mut self,
        now: Instant,
        request: &InferenceRequest,
        excluded: &BTreeSet<NodeId>,
    ) -> Result<(Placement, Digest, FactProvenance), PlacementRefusal> {
        let inputs = self.planning_inputs(now);
        let facts = inputs.facts(self);
        let placement = match request.lane {
            RequestLane::WholeRequest => place_whole_request(&facts, &request.needs, excluded, request.hint.as_ref())?,
            RequestLane::Replicated => place_replicated(&facts, &request.needs, excluded)?,
        };
        let telemetry_age_ms = placement
            .plan
            .executing()
            .iter()
            .filter_map(|selected| {
                let seen = self.devices.seen.get(&selected.node)?;
                Some((selected.node, now.saturating_since(seen.at).as_millis() as u64))
            })
            .collect();
        let executing: Vec<_> = placement
            .plan
            .executing()
            .iter()
            .map(|selected| selected.node)
            .collect();
        let provenance = FactProvenance {
            applied_index: self.state.applied_index,
            applied_term: self.state.applied_term,
            telemetry_age_ms,
            set_by: self.setters_of(&executing, request.needs.artifact),
        };
        Ok((placement, inputs.state_digest, provenance))
    }

    fn assign(
        &mut self,
        request: InferenceRequest,
        placement: Placement,
        state_digest: Digest,
        provenance: FactProvenance,
        excluded: BTreeSet<NodeId>,
        reroutes: Vec<Reroute>,
    ) {
        let node = placement.plan.executing()[0].node;
        let assignment = Assignment {
            request: request.id,
            plan: placement.plan.clone(),
            plan_digest: placement.plan_digest,
            prompt: request.prompt.clone(),
            max_tokens: request.max_tokens,
            class: request.class,
        };
        let stamped = self
            .stamp(Decision::Assign(Box::new(assignment)))
            .expect("only a leader assigns");
        let authority = stamped.authority;
        let flight = InFlight {
            request,
            placement,
            state_digest,
            provenance,
            node,
            excluded,
            reroutes,
            authority,
            certificate: self.leadership_certificate(),
        };
        self.dispatch.in_flight.insert(flight.request.id, flight);
        self.deliver_decision(node, stamped);
    }

    fn reroute(&mut self, now: Instant, mut flight: InFlight, reason: RerouteReason) {
        let request = flight.request.id;
        self.push_event(Event::RequestRerouted {
            request,
            from: flight.node,
            reason,
        });
        flight.excluded.insert(flight.node);
        flight.reroutes.push(Reroute {
            from: flight.node,
            reason,
        });
        match self.place(now, &flight.request, &flight.excluded) {
            Ok((placement, state_digest, provenance)) => self.assign(
                flight.request,
                placement,
                state_digest,
                provenance,
                flight.excluded,
                flight.reroutes,
            ),
            Err(refusal) => self.finish(request, RequestRefusal::Placement(refusal)),
        }
    }

    /// Ends `flight` completed on `node` under `plan`, with signed evidence.
    fn complete_with(&mut self, flight: InFlight, node: NodeId, tokens: Vec<u8>, plan: ExecutionTopologyPlan) {
        let context = ClusterExecutionContext {
            cluster_id: self.cluster_id,
            request: flight.request.id,
            prompt_digest: Digest::of_bytes(DigestKind::Prompt, &flight.request.prompt),
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
            result_digest: Some(Digest::of_bytes(DigestKind::Output, &tokens)),
            leadership: (*flight.certificate).clone(),
        };
        let signer = self
            .dispatch
            .signer
            .as_ref()
            .expect("Node::new gives consensus its evidence signer");
        let evidence = Box::new(SignedEvidence::sign(context, signer));
        let outcome = RequestOutcome::Completed { node, tokens, evidence };
        self.push_event(Event::RequestFinished {
            request: flight.request.id,
            outcome,
        });
    }

    fn finish(&mut self, request: RequestId, refusal: RequestRefusal) {
        self.push_event(Event::RequestFinished {
            request,
            outcome: RequestOutcome::Refused { refusal },
        });
    }
}

fn validate(request: &InferenceRequest) -> Result<(), SubmitRefusal> {
    ShapeRefusal::check(request.prompt.len(), request.max_tokens)?;
    if request.needs.backends.is_empty() {
        return Err(SubmitRefusal::NoBackend);
    }
    Ok(())
}

//! The node's serving: dispatch messages reach serving once consensus admitted their
//! authority, serving's effects become outputs, and its upkeep runs after each input.

use crate::consensus::ConsensusRefusal;
use crate::dispatch::Token;
use core::net::{Ipv4Addr, SocketAddr};

use super::{Node, view};
use crate::dispatch::{AssignmentRefusal, ExecutionReport};
use crate::identity::{NodeId, RequestId};
use crate::io::{Event, Output};
use crate::refusal::Refusal;
use crate::serving::{Decision, DispatchMessage, ReportFrom, ServingEffect, StampedDecision, StreamedTokens};
use crate::time::Instant;
use crate::wire::Message;

impl Node {
    /// Executing node: the job of `request` ended with `report` (see
    /// [`Output::RunJob`]). It is reported to the newest coordinator that assigned it;
    /// an outcome of a job stopped since is dropped.
    pub fn execution_ended(&mut self, now: Instant, request: RequestId, report: ExecutionReport) {
        self.serving.execution_ended(request, report);
        self.finish(now);
    }

    /// Executing node: the job of `request` produced `tokens`, the first of them its
    /// token number `offset`. A streaming run's tokens go to its coordinator; others
    /// are dropped.
    pub fn execution_progress(&mut self, now: Instant, request: RequestId, offset: u32, tokens: Vec<Token>) {
        self.serving.execution_progress(request, offset, tokens);
        self.finish(now);
    }

    /// A dispatch message from `from` (this node itself, for a coordinator that runs
    /// its own assignment).
    pub(super) fn on_dispatch(&mut self, now: Instant, from: NodeId, message: DispatchMessage) {
        if let Err(fault) = message.check_values() {
            return self.consensus.refuse_values(from, fault);
        }
        self.sync_telemetry_index();
        match message {
            DispatchMessage::Decision(stamped) => self.on_stamped_decision(now, from, stamped),
            DispatchMessage::Execution { request, fence, report } => {
                let report = ReportFrom {
                    from,
                    request,
                    fence,
                    report,
                };
                self.serving.on_execution_report(now, view!(self), report);
            }
            DispatchMessage::Submit(request) => self.serving.on_forwarded_submit(now, view!(self), from, *request),
            DispatchMessage::Tokens {
                request,
                fence,
                offset,
                tokens,
            } => {
                let tokens = StreamedTokens {
                    request,
                    fence,
                    offset,
                    tokens,
                };
                self.serving.on_tokens(view!(self), from, tokens);
            }
            DispatchMessage::FollowUp { request } => self.serving.on_follow_up(view!(self), from, request),
            answer @ (DispatchMessage::Placed { .. }
            | DispatchMessage::SubmitRefused { .. }
            | DispatchMessage::Finished { .. }
            | DispatchMessage::Streamed { .. }) => self.serving.on_forward_answer(now, from, answer),
        }
    }

    fn on_stamped_decision(&mut self, now: Instant, from: NodeId, stamped: StampedDecision) {
        let StampedDecision {
            authority,
            authority_digest,
            decision,
        } = stamped;
        match self.consensus.admit_decision(now, from, &authority, authority_digest) {
            Ok(()) => self.serving.on_decision(view!(self), authority, decision),
            Err(refusal) => {
                if let (ConsensusRefusal::StaleFence { seen, got, .. }, Decision::Assign(assignment)) =
                    (&refusal, &decision)
                {
                    let refused = AssignmentRefusal::StaleFence { seen: *seen, got: *got };
                    self.serving.refuse_assignment(&authority, assignment.request, refused);
                }
                self.refuse_from(refusal);
            }
        }
    }

    /// Re-keys the coordinator's candidate index for every node whose telemetry
    /// changed in the device book since the last call.
    pub(super) fn sync_telemetry_index(&mut self) {
        for node in self.devices.take_telemetry_changes() {
            self.serving.index_telemetry(view!(self), node);
        }
    }

    /// After each input: the coordinator follows the leadership, the executing side
    /// tells a new leader of its completions and stops runs no coordinator can take,
    /// and the queue depth goes to the device book (this node's telemetry) when it
    /// moved.
    pub(super) fn serving_upkeep(&mut self, now: Instant) {
        self.sync_telemetry_index();
        self.serving.follow_leadership(view!(self));
        self.serving.executor_upkeep(view!(self));
        self.serving.expire_forwarded_requests(view!(self), now);
        if let Some(depth) = self.serving.take_depth_change() {
            self.devices.set_queue_depth(now, depth);
        }
    }

    /// Carries out serving's effects in order; a message to this node is handled here.
    pub(super) fn drain_serving(&mut self, now: Instant) {
        while !self.serving.effects.is_empty() {
            let effects = std::mem::take(&mut self.serving.effects);
            for effect in effects {
                self.carry_out_serving(now, effect);
            }
        }
    }

    fn carry_out_serving(&mut self, now: Instant, effect: ServingEffect) {
        match effect {
            ServingEffect::Send { to, message } if to == self.node_id => self.on_dispatch(now, to, message),
            ServingEffect::Send { to, message } => self.send_to_peer(to, Message::Dispatch(message)),
            ServingEffect::Event(event) => self.outputs.push_back(Output::Event(Event::Serving(event))),
            ServingEffect::RunJob(job) => self.outputs.push_back(Output::RunJob(job)),
            ServingEffect::StopJob(request) => self.outputs.push_back(Output::StopJob { request }),
            ServingEffect::Refuse(refusal) => self.refuse_from(refusal),
        }
    }

    /// Counts and reports `refusal`, from where its sender last spoke.
    pub(super) fn refuse_from(&mut self, refusal: impl Into<Refusal>) {
        let refusal = refusal.into();
        let from = refusal.sender().and_then(|sender| self.addr_of(sender));
        self.refuse(from.unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))), refusal);
    }
}

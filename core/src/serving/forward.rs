//! Requests submitted to a node that does not lead: forwarded to the leader it
//! follows, which places and follows them as its own and sends where they were placed,
//! or why not, and how they ended, back to the node that forwarded them. Clients are
//! answered where they submitted.
//!
//! Invariants: every forwarded request ends on the forwarding node exactly once, as
//! placed then finished, or refused; one whose leader changed before it answered ends
//! there as refused `forward-unanswered` (not placed yet) or `coordinator-deposed`
//! (placed), as a request its own leader dropped would: the client submits it again
//! under the same id, which keeps it from running twice on one node. A placed request
//! not heard of for [`FORWARD_ANSWER_WITHIN_MS`] is asked for again (its `Finished`
//! may have been lost), so none waits on a lost answer.

use super::ClusterView;
use super::ServingEvent;
use crate::consensus::ConsensusRefusal;
use std::collections::BTreeMap;

use super::{DispatchMessage, Serving};
use crate::dispatch::{InferenceRequest, RequestOutcome, RequestRefusal, SubmitRefusal};
use crate::identity::{NodeId, RequestId};
use crate::limits::FORWARD_ANSWER_WITHIN_MS;
use crate::plan::Placement;
use crate::time::Instant;

/// Most requests one node has forwarded and not seen end.
pub const FORWARDED_REQUESTS_MAX: usize = 4_096;

/// A request forwarded to a leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ForwardedRequest {
    leader: NodeId,
    term: u64,
    sent_at: Instant,
    placed: bool,
    /// When the leader was last heard of it, or asked (see [`DispatchMessage::FollowUp`]).
    heard_at: Instant,
}

/// What a submission at this node became.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// This node leads and placed it.
    Placed(Box<Placement>),
    /// Forwarded to `leader`: [`ServingEvent::RequestPlaced`] or
    /// [`ServingEvent::RequestSubmitRefused`] follows, then [`ServingEvent::RequestFinished`].
    Forwarded {
        /// The leader.
        leader: NodeId,
    },
}

impl Serving {
    /// Places `request` here when this node leads; otherwise forwards it to the leader
    /// it follows.
    pub(crate) fn submit_anywhere(
        &mut self,
        now: Instant,
        raft: ClusterView<'_>,
        request: InferenceRequest,
    ) -> Result<Submitted, SubmitRefusal> {
        let leader = match raft.leader() {
            Some(leader) if leader != raft.id() && !raft.is_leader() => leader,
            _ => {
                return self
                    .submit(now, raft, request)
                    .map(|placement| Submitted::Placed(Box::new(placement)));
            }
        };
        if let Some(silence) = raft.leader_silence(now, leader) {
            return Err(SubmitRefusal::LeaderSilent(silence));
        }
        let forwarded = &mut self.forwarded_requests;
        if forwarded.contains_key(&request.id) {
            return Err(SubmitRefusal::InFlight { request: request.id });
        }
        if forwarded.len() >= FORWARDED_REQUESTS_MAX {
            return Err(SubmitRefusal::TooManyForwarded {
                pending: forwarded.len(),
                max: FORWARDED_REQUESTS_MAX,
            });
        }
        let term = raft.hard_state().term;
        let sent = ForwardedRequest {
            leader,
            term,
            sent_at: now,
            placed: false,
            heard_at: now,
        };
        forwarded.insert(request.id, sent);
        self.send(leader, DispatchMessage::Submit(Box::new(request)));
        Ok(Submitted::Forwarded { leader })
    }

    /// Leader: a request a member forwarded. It is placed as if submitted here; its
    /// placement (or refusal), then its outcome, go back to that member.
    pub(crate) fn on_forwarded_submit(
        &mut self,
        now: Instant,
        raft: ClusterView<'_>,
        from: NodeId,
        request: InferenceRequest,
    ) {
        if !raft.effective_members().contains_key(&from) {
            let refusal = ConsensusRefusal::NotAMember {
                sender: from,
                message: crate::consensus::ConsensusMessageKind::Forward,
            };
            return self.effects.push(super::ServingEffect::Refuse(refusal.into()));
        }
        let id = request.id;
        // A request another member forwarded first stays answered to that member.
        let answered_elsewhere = self.coordinator.answer_to.contains_key(&id);
        if !answered_elsewhere {
            self.coordinator.answer_to.insert(id, from);
        }
        let before = self.effects.len();
        let answer = match self.submit(now, raft, request) {
            Ok(placement) => DispatchMessage::Placed {
                request: id,
                placement: Box::new(placement),
            },
            Err(refusal) => {
                if !answered_elsewhere {
                    self.coordinator.answer_to.remove(&id);
                }
                DispatchMessage::SubmitRefused { request: id, refusal }
            }
        };
        // The answer goes before what the submission produced: a request completed
        // under an earlier coordinator ends at once, and its outcome must follow.
        let produced = self.effects.split_off(before);
        self.send(from, answer);
        self.effects.extend(produced);
    }

    /// The answer of the leader a request was forwarded to.
    pub(crate) fn on_forward_answer(&mut self, now: Instant, from: NodeId, message: DispatchMessage) {
        let request = match &message {
            DispatchMessage::Placed { request, .. }
            | DispatchMessage::SubmitRefused { request, .. }
            | DispatchMessage::Finished { request, .. }
            | DispatchMessage::Streamed { request, .. } => *request,
            _ => return,
        };
        let Some(sent) = self
            .forwarded_requests
            .get_mut(&request)
            .filter(|sent| sent.leader == from)
        else {
            return;
        };
        sent.heard_at = now;
        match message {
            DispatchMessage::Placed { placement, .. } => {
                sent.placed = true;
                self.event(ServingEvent::RequestPlaced { request, placement });
            }
            DispatchMessage::SubmitRefused { refusal, .. } => {
                self.forwarded_requests.remove(&request);
                self.event(ServingEvent::RequestSubmitRefused { request, refusal });
            }
            DispatchMessage::Finished { outcome, .. } => {
                self.forwarded_requests.remove(&request);
                self.event(ServingEvent::RequestFinished {
                    request,
                    outcome: *outcome,
                });
            }
            DispatchMessage::Streamed {
                node, offset, tokens, ..
            } => {
                let produced = ServingEvent::TokensProduced {
                    request,
                    node,
                    offset,
                    tokens,
                };
                self.event(produced);
            }
            _ => {}
        }
    }

    /// Forwarded requests whose leader is no longer the one followed (or whose term
    /// passed) end here: refused `forward-unanswered` if not placed yet, else
    /// `coordinator-deposed`; as does one the leader has not placed within
    /// [`FORWARD_ANSWER_WITHIN_MS`]. Of a placed one not heard of for as long, the
    /// leader is asked how it ended (its `Finished` may have been lost).
    pub(crate) fn expire_forwarded_requests(&mut self, raft: ClusterView<'_>, now: Instant) {
        if self.forwarded_requests.is_empty() {
            return;
        }
        let (leader, term) = (raft.leader(), raft.hard_state().term);
        let expired: BTreeMap<RequestId, ForwardedRequest> = self
            .forwarded_requests
            .iter()
            .filter(|(_, sent)| {
                let late = now.saturating_since(sent.sent_at).as_millis() >= u128::from(FORWARD_ANSWER_WITHIN_MS);
                Some(sent.leader) != leader || sent.term != term || (late && !sent.placed)
            })
            .map(|(request, sent)| (*request, *sent))
            .collect();
        for (request, sent) in expired {
            self.forwarded_requests.remove(&request);
            if sent.placed {
                let refusal = RequestRefusal::CoordinatorDeposed;
                let outcome = RequestOutcome::Refused { refusal };
                self.event(ServingEvent::RequestFinished { request, outcome });
            } else {
                let refusal = SubmitRefusal::ForwardUnanswered { leader: sent.leader };
                self.event(ServingEvent::RequestSubmitRefused { request, refusal });
            }
        }
        self.follow_up_silent_requests(now);
    }

    /// Asks the leader of each placed request not heard of for
    /// [`FORWARD_ANSWER_WITHIN_MS`] how it ended.
    fn follow_up_silent_requests(&mut self, now: Instant) {
        let silent: Vec<(RequestId, NodeId)> = self
            .forwarded_requests
            .iter_mut()
            .filter(|(_, sent)| {
                sent.placed && now.saturating_since(sent.heard_at).as_millis() >= u128::from(FORWARD_ANSWER_WITHIN_MS)
            })
            .map(|(request, sent)| {
                sent.heard_at = now;
                (*request, sent.leader)
            })
            .collect();
        for (request, leader) in silent {
            self.send(leader, DispatchMessage::FollowUp { request });
        }
    }
}

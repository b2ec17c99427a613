//! The impostor fault: a node holding the cluster's token, with a key of its own, that
//! speaks as a member (its id and key, a later epoch) without the member's secret,
//! replays the member's frames of its current life to another node, and lies about
//! its own place: it introduces itself as coordinator-capable (it may wait as a
//! candidate, never be admitted), claims to lead a newer term, stamps a decision under
//! its own authority and reports a completion it never ran. Every other frame must be
//! refused.

use std::net::SocketAddr;

use psionic_core::consensus::{Authority, Fence, RaftMessage};
use psionic_core::dispatch::ExecutionReport;
use psionic_core::plan::ExecutionTopologyPlan;
use psionic_core::serving::{Decision, DispatchMessage, StampedDecision};
use psionic_core::wire::{Authenticator, Body, Hello, Message, Recipient, Seal, Sealed, encode_frame};
use psionic_core::{ClusterId, ClusterState, Digest, NodeEpoch, NodeId, NodeIdentity, NodeRole, RequestId};

use super::{HARNESS_IP, SimCluster};
use crate::trace::Fault;

/// The term an impostor claims: far above any a run reaches, within the values a
/// frame may carry.
const CLAIMED_TERM: u64 = 1_000_000;

/// What an impostor sent, and who it was.
#[derive(Clone, Copy, Debug)]
pub struct ImpostorSent {
    /// The impostor's own id.
    pub impostor: NodeId,
    /// The member it spoke as.
    pub victim: NodeId,
    /// Frames sent, replays included.
    pub frames: usize,
}

/// Who speaks, to whom, in which cluster: what sealing a frame takes.
struct Sender {
    cluster_id: ClusterId,
    authenticator: Authenticator,
    recipient: Recipient,
    seal: Seal,
    counter: u64,
}

impl Sender {
    /// `message` with `claimed` (id, key and epoch) as sender, sealed with the
    /// impostor's own keys.
    fn frame(&mut self, claimed: &NodeIdentity, message: Message) -> Vec<u8> {
        self.counter += 1;
        let sealed = Sealed {
            counter: self.counter,
            transport: psionic_core::TransportClass::Datagram,
            auth_kind: self.authenticator.kind_for(true),
        };
        let body = Body::new(self.cluster_id, claimed, Some(self.recipient), sealed, message);
        encode_frame(&body, &mut self.authenticator, self.seal).expect("the recipient's key is a node's")
    }
}

impl SimCluster {
    /// `victim`'s impostor speaks to `to` (see the module). Call only while `to` runs,
    /// and only for a `to` that holds its cluster's state (a genesis voter): a node
    /// that has none yet follows the first voter-claiming leader that authenticates.
    pub async fn impostor(&mut self, victim: &str, to: &str) -> ImpostorSent {
        let identity = NodeIdentity::new(madsim::rand::random(), NodeEpoch(1));
        self.shared.state().invariants.unlisted.insert(identity.node_id());
        let victim_epoch = self.current_epoch(victim);
        let posing = NodeIdentity::new(self.node(victim).spec.secret_key, NodeEpoch(victim_epoch.0 + 1_000));
        let target = self.current_identity(to).await;
        let mut sender = self.impostor_sender(&identity, to, &target);
        let introduction = self_introduction(&self.node(to).spec.settings, self.genesis());
        let genesis = self.genesis().unwrap_or(Digest([0; 32]));
        let mut frames = vec![sender.frame(&identity, introduction)];
        frames.push(sender.frame(&posing, leadership_claim(genesis)));
        frames.push(sender.frame(&identity, leadership_claim(genesis)));
        frames.push(sender.frame(&identity, decision_claim(sender.cluster_id, identity.node_id())));
        frames.push(sender.frame(&identity, completion_claim()));
        let replayed = self.captured_of(victim, victim_epoch);
        let count = frames.len() + replayed.len();
        frames.extend(replayed);
        self.send_from_harness(frames, self.node(to).spec.settings.discovery_bind)
            .await;
        self.fault(Fault::Impostor {
            node: victim.to_owned(),
            to: to.to_owned(),
            frames: count,
        });
        ImpostorSent {
            impostor: identity.node_id(),
            victim: self.node_id(victim),
            frames: count,
        }
    }

    fn impostor_sender(&self, identity: &NodeIdentity, to: &str, target: &NodeIdentity) -> Sender {
        let settings = &self.node(to).spec.settings;
        let cluster_id = ClusterId::derive(&settings.namespace, &settings.cluster_genesis);
        Sender {
            cluster_id,
            authenticator: Authenticator::new(&settings.posture, cluster_id, identity),
            recipient: Recipient::of(target),
            seal: Seal::to(target),
            counter: 0,
        }
    }

    /// The epoch of `name`'s latest start.
    pub(super) fn current_epoch(&self, name: &str) -> NodeEpoch {
        (1..)
            .map_while(|life| self.epoch_of_life(name, life))
            .last()
            .unwrap_or(NodeEpoch(0))
    }

    /// The genesis of the configured voters, if the scenario configures any.
    pub(super) fn genesis(&self) -> Option<Digest> {
        self.nodes
            .values()
            .map(|node| &node.spec.settings.consensus.initial_voters)
            .find(|voters| !voters.is_empty())
            .map(|voters| ClusterState::genesis_digest(voters))
    }

    fn captured_of(&self, name: &str, epoch: NodeEpoch) -> Vec<Vec<u8>> {
        let state = self.shared.state();
        let captured = state.captured.get(&(name.to_owned(), epoch));
        captured
            .map(|frames| frames.iter().map(|frame| frame.bytes.clone()).collect())
            .unwrap_or_default()
    }

    /// Sends `frames` to `target` from the harness address, in order.
    pub(super) async fn send_from_harness(&self, frames: Vec<Vec<u8>>, target: SocketAddr) {
        let sent = self.harness.spawn(async move {
            let socket = psionic_net::udp::UdpSocket::bind(SocketAddr::from((HARNESS_IP, 0))).await?;
            for frame in frames {
                psionic_net::udp::send_to(&socket, &frame, target).await?;
            }
            std::io::Result::Ok(())
        });
        sent.await.expect("harness task").expect("harness socket");
    }
}

/// A hello claiming the coordinator role: it makes the impostor a candidate, which no
/// listing names.
pub(super) fn self_introduction(settings: &psionic_net::NodeSettings, genesis: Option<Digest>) -> Message {
    Message::Hello(Hello {
        namespace: settings.namespace.clone(),
        role: NodeRole::Both,
        peers: Vec::new(),
        stream_port: None,
        probe_sent_us: 0,
        genesis,
        binary: settings.binary,
        tokens: Vec::new(),
        // The cluster's own bundle (trusted LAN: no key in it): only the listing keeps
        // the impostor out.
        trust: Some(
            psionic_core::trust::TrustBundle::of(
                &settings.posture,
                psionic_core::NodeId([0; 16]),
                &settings.consensus.allowed_binaries,
            )
            .digest(),
        ),
        key_history: Vec::new(),
    })
}

/// A heartbeat of a newer term: what a leader sends.
fn leadership_claim(genesis: Digest) -> Message {
    Message::Raft(RaftMessage::Append {
        term: CLAIMED_TERM,
        prev_index: 0,
        prev_term: 0,
        entries: Default::default(),
        leader_commit: 0,
        genesis,
        sent_us: 0,
    })
}

/// A decision under an authority the impostor claims for itself.
fn decision_claim(cluster_id: ClusterId, impostor: NodeId) -> Message {
    let authority = Authority {
        cluster_id,
        term: CLAIMED_TERM,
        commit_index: 0,
        fence: Fence(CLAIMED_TERM),
        leader: impostor,
    };
    Message::Dispatch(DispatchMessage::Decision(StampedDecision {
        authority,
        authority_digest: authority.digest(),
        decision: Decision::Directive {
            id: 0,
            body: b"impostor".to_vec(),
        },
    }))
}

/// A completion, under an earlier leadership, of a request the impostor never ran.
fn completion_claim() -> Message {
    let tokens: Vec<psionic_core::dispatch::Token> = b"made up".iter().map(|byte| u32::from(*byte)).collect();
    let report = ExecutionReport::CompletedEarlier {
        result_digest: psionic_core::dispatch::output_digest(&tokens),
        tokens,
        plan: Box::new(ExecutionTopologyPlan::TensorSharded {
            artifact: Digest([0; 32]),
            shards: Vec::new(),
            collective_bytes_per_token_per_layer: 0,
        }),
    };
    Message::Dispatch(DispatchMessage::Execution {
        request: RequestId([0xee; 16]),
        fence: Fence(1),
        report,
    })
}

impl SimCluster {
    /// Whether `name` is one of the voters its cluster was founded with (it holds the
    /// cluster's state from its first start).
    pub fn is_genesis_voter(&self, name: &str) -> bool {
        let node = self.node(name);
        let voters = &node.spec.settings.consensus.initial_voters;
        voters.iter().any(|(id, _)| *id == node.node_id)
    }
}

//! N1 (a heartbeat round trip over loopback UDP, encoded and authenticated as the
//! driver does it, against raw UDP ping-pong) and S1 (a snapshot sent in
//! authenticated chunks over loopback TCP, verified and decoded, against raw TCP plus
//! SHA-256 plus a copy).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;

use psionic_core::consensus::message::SNAPSHOT_CHUNK_BYTES_MAX;
use psionic_core::consensus::{RaftMessage, StoredSnapshot};
use psionic_core::state::PolicyDocument;
use psionic_core::wire::{Authenticator, Body, Message, Recipient, Seal, Sealed, decode_frame, encode_frame};
use psionic_core::{
    AdmissionToken, ClusterId, ClusterNamespace, ClusterState, Digest, DigestKind, NodeEpoch, NodeIdentity,
    TransportClass, TrustPosture,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// One node of a [`Pair`]: its identity and authenticator.
pub type Side = (NodeIdentity, RefCell<Authenticator>);

/// Two nodes' authenticators under the trusted-LAN posture.
pub struct Pair {
    pub cluster_id: ClusterId,
    pub a: Side,
    pub b: Side,
}

impl Pair {
    pub fn new() -> Self {
        let cluster_id = ClusterId::derive(&ClusterNamespace::new("bench").unwrap(), b"genesis");
        let posture = TrustPosture::TrustedLan {
            token: AdmissionToken::new(b"benchmark admission token".to_vec()).unwrap(),
            next: None,
        };
        let node = |byte: u8| {
            let identity = NodeIdentity::new([byte; 32], NodeEpoch(1));
            let authenticator = Authenticator::new(&posture, cluster_id, &identity);
            (identity, RefCell::new(authenticator))
        };
        Self {
            cluster_id,
            a: node(1),
            b: node(2),
        }
    }

    /// `message` sealed by `from` for the other side.
    fn seal(&self, from: &Side, counter: u64, message: RaftMessage) -> Vec<u8> {
        let to = if std::ptr::eq(from, &self.a) {
            &self.b.0
        } else {
            &self.a.0
        };
        let mut authenticator = from.1.borrow_mut();
        let sealed = Sealed {
            counter,
            transport: TransportClass::Stream,
            auth_kind: authenticator.kind_for(true),
        };
        let body = Body::new(
            self.cluster_id,
            &from.0,
            Some(Recipient::of(to)),
            sealed,
            Message::Raft(message),
        );
        encode_frame(&body, &mut authenticator, Seal::to(to)).unwrap()
    }

    /// Decodes and verifies a frame as `to` does; returns its message.
    fn open(&self, to: &Side, bytes: &[u8]) -> Message {
        let frame = decode_frame(bytes).unwrap();
        to.1.borrow_mut().verify(&frame.signed()).unwrap();
        frame.body.message
    }

    /// A heartbeat and its answer, sealed and opened, without any socket: the crypto
    /// and codec part of N1.
    pub fn heartbeat_in_memory(&self, counter: u64) {
        let request = self.seal(&self.a, counter, heartbeat());
        self.open(&self.b, &request);
        let response = self.seal(&self.b, counter, heartbeat_response());
        self.open(&self.a, &response);
    }
}

fn heartbeat() -> RaftMessage {
    RaftMessage::Append {
        term: 3,
        prev_index: 100,
        prev_term: 3,
        entries: Default::default(),
        leader_commit: 100,
        genesis: psionic_core::Digest([7; 32]),
        sent_us: 1_000_000,
    }
}

fn heartbeat_response() -> RaftMessage {
    RaftMessage::AppendResponse {
        term: 3,
        success: true,
        match_index: 100,
        conflict_index: 0,
        last_index: 100,
        state_schema: psionic_core::consensus::STATE_SCHEMA_VERSION,
        report: Default::default(),
        genesis: Some(psionic_core::Digest([7; 32])),
        echo_us: 1_000_000,
    }
}

/// Two UDP sockets on loopback.
pub struct UdpPair {
    a: UdpSocket,
    b: UdpSocket,
    a_addr: SocketAddr,
    b_addr: SocketAddr,
}

impl UdpPair {
    pub async fn bind() -> Self {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        Self { a, b, a_addr, b_addr }
    }

    /// Ours: heartbeat from a to b and its answer, each sealed, sent, received, opened.
    pub async fn heartbeat(&self, pair: &Pair, counter: u64) {
        let mut buffer = vec![0u8; 2048];
        let request = pair.seal(&pair.a, counter, heartbeat());
        self.a.send_to(&request, self.b_addr).await.unwrap();
        let (len, _) = self.b.recv_from(&mut buffer).await.unwrap();
        pair.open(&pair.b, &buffer[..len]);
        let response = pair.seal(&pair.b, counter, heartbeat_response());
        self.b.send_to(&response, self.a_addr).await.unwrap();
        let (len, _) = self.a.recv_from(&mut buffer).await.unwrap();
        pair.open(&pair.a, &buffer[..len]);
    }

    /// The peer: the same bytes bounced back and forth, nothing else.
    pub async fn ping_pong(&self, bytes: &[u8]) {
        let mut buffer = vec![0u8; 2048];
        self.a.send_to(bytes, self.b_addr).await.unwrap();
        let (len, _) = self.b.recv_from(&mut buffer).await.unwrap();
        self.b.send_to(&buffer[..len], self.a_addr).await.unwrap();
        self.a.recv_from(&mut buffer).await.unwrap();
    }
}

/// A snapshot of a state holding `policies` documents of 64 KiB.
pub fn snapshot_of(policies: usize) -> StoredSnapshot {
    let policies = (0..policies)
        .map(|index| {
            let document = vec![index as u8; 64 * 1024];
            let policy = PolicyDocument {
                digest: Digest::of_bytes(DigestKind::Policy, &document),
                document,
            };
            (format!("policy-{index}"), policy)
        })
        .collect::<BTreeMap<_, _>>();
    let state = ClusterState {
        policies,
        ..ClusterState::default()
    };
    StoredSnapshot::of(&state)
}

/// Ours: the snapshot in authenticated, length-prefixed chunk frames over one TCP
/// connection; the receiver opens each, assembles, verifies and decodes the state.
pub async fn send_snapshot(pair: &Pair, snapshot: &StoredSnapshot) {
    let (mut sender, mut receiver) = connected().await;
    let frames: Vec<Vec<u8>> = snapshot
        .bytes
        .chunks(SNAPSHOT_CHUNK_BYTES_MAX)
        .enumerate()
        .map(|(index, data)| {
            let chunk = RaftMessage::SnapshotChunk {
                term: 3,
                meta: snapshot.meta,
                offset: (index * SNAPSHOT_CHUNK_BYTES_MAX) as u64,
                data: data.to_vec().into(),
            };
            pair.seal(&pair.a, index as u64, chunk)
        })
        .collect();
    let count = frames.len();
    let writer = tokio::spawn(async move {
        for frame in frames {
            sender.write_all(&(frame.len() as u32).to_le_bytes()).await.unwrap();
            sender.write_all(&frame).await.unwrap();
        }
    });
    let mut assembled = Vec::with_capacity(snapshot.bytes.len());
    for _ in 0..count {
        let mut len = [0u8; 4];
        receiver.read_exact(&mut len).await.unwrap();
        let mut frame = vec![0u8; u32::from_le_bytes(len) as usize];
        receiver.read_exact(&mut frame).await.unwrap();
        let Message::Raft(RaftMessage::SnapshotChunk { data, .. }) = pair.open(&pair.b, &frame) else {
            panic!("not a chunk")
        };
        assembled.extend_from_slice(data.as_slice());
    }
    writer.await.unwrap();
    let received = StoredSnapshot {
        meta: snapshot.meta,
        bytes: assembled,
    };
    received.verify().unwrap();
}

/// The limit: the same bytes over one TCP connection in writes of the chunk size,
/// then SHA-256 over them and a copy.
pub async fn send_raw(bytes: &[u8]) {
    let (mut sender, mut receiver) = connected().await;
    let owned = bytes.to_vec();
    let writer = tokio::spawn(async move {
        for chunk in owned.chunks(SNAPSHOT_CHUNK_BYTES_MAX) {
            sender.write_all(chunk).await.unwrap();
        }
    });
    let mut received = vec![0u8; bytes.len()];
    receiver.read_exact(&mut received).await.unwrap();
    writer.await.unwrap();
    std::hint::black_box(super::crypto::raw_sha256(&received));
    std::hint::black_box(received.clone());
}

async fn connected() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sender, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (sender.unwrap(), accepted.unwrap().0)
}

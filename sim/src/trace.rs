//! The trace of a simulated run: every core event and every injected fault, stamped
//! with simulated time, in the order they happened.

use std::sync::{Arc, Mutex};

use psionic_core::digest::{Digest, DigestKind, DigestWriter};
use psionic_core::{Event, NodeEpoch, NodeId};
use serde::{Deserialize, Serialize};

/// One line of a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// Simulated milliseconds since the run started.
    pub at_ms: u64,
    /// Name of the node the record is about (`n1`, ...), or `harness`.
    pub node: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: TraceKind,
}

/// What a trace record says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum TraceKind {
    /// A node started speaking.
    Start {
        /// Its id.
        node_id: NodeId,
        /// Its epoch.
        epoch: NodeEpoch,
    },
    /// The node's core emitted an event.
    Event {
        /// The event.
        event: Event,
    },
    /// The node booted after a crash that cut writes short: they were undone.
    UnsyncedWritesLost {
        /// How many writes.
        writes: usize,
    },
    /// The harness injected a fault.
    Fault {
        /// The fault.
        fault: Fault,
    },
    /// The node refused to start: its data directory is damaged (as `psionic-node`
    /// exits with code 4).
    StartRefused {
        /// The error, as the node names it.
        error: String,
    },
    /// An operator's command through the leader came to this.
    Operator {
        /// What was asked.
        command: String,
        /// What came of it.
        outcome: String,
    },
}

/// A fault the harness injected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// Every link to and from the node is cut.
    Isolate {
        /// The node.
        node: String,
    },
    /// Every link between the minority and the rest is cut.
    Partition {
        /// The nodes cut off.
        minority: Vec<String>,
    },
    /// Every cut link is restored.
    Heal,
    /// An isolated node's links are restored.
    Reconnect {
        /// The node.
        node: String,
    },
    /// The node is killed (its tasks stop; its disk survives).
    Kill {
        /// The node.
        node: String,
    },
    /// The node is started again.
    Restart {
        /// The node.
        node: String,
    },
    /// Frames the node sent in an earlier epoch are sent again to `to`.
    Replay {
        /// The node whose frames are replayed.
        node: String,
        /// The epoch they were sent in.
        epoch: NodeEpoch,
        /// The receiver.
        to: String,
        /// How many.
        frames: usize,
    },
    /// A token holder spoke to `to` as `node`, replayed `node`'s frames of its
    /// current life to it, and lied about its own place in the cluster.
    Impostor {
        /// The member impersonated.
        node: String,
        /// The receiver.
        to: String,
        /// How many frames.
        frames: usize,
    },
    /// `left` and `right` are cut apart; `node` still reaches both.
    Bridge {
        /// The bridge.
        node: String,
        /// One side.
        left: Vec<String>,
        /// The other side.
        right: Vec<String>,
    },
    /// Everything `from` sends to `to` is dropped (one direction).
    Clog {
        /// Sender.
        from: String,
        /// Receiver.
        to: String,
    },
    /// The node's tasks stop running.
    Pause {
        /// The node.
        node: String,
    },
    /// The node's tasks run again.
    Resume {
        /// The node.
        node: String,
    },
    /// Loss and latency of every link changed.
    Network {
        /// Loss probability, parts per million.
        loss_ppm: u32,
        /// Latency floor.
        latency_ms_min: u64,
        /// Latency ceiling.
        latency_ms_max: u64,
    },
    /// The node's clock jumped ahead and/or drifts from now on.
    Clock {
        /// The node.
        node: String,
        /// Forward jump.
        jump_ms: u64,
        /// Rate error.
        drift_ppm: i32,
    },
    /// The node's driver reports other devices from now on.
    Devices {
        /// The node.
        node: String,
        /// GPUs it reports (0: the driver reports none).
        gpus: usize,
    },
    /// Datagrams are sent twice with this probability from now on.
    Duplicate {
        /// Probability, parts per million.
        rate_ppm: u32,
    },
    /// The nodes were given these admission tokens (the live ones at once, as a
    /// SIGHUP does; every one for its later starts).
    AdmissionTokens {
        /// The nodes.
        nodes: Vec<String>,
        /// Public digests of the tokens each holds now.
        held: Vec<psionic_core::digest::Digest>,
    },
    /// The harness's operator moved from one credential to the next (the policy
    /// granting both, then the next alone, committed).
    OperatorCredential {
        /// The credential left behind.
        from: String,
        /// The credential now used.
        to: String,
    },
    /// A node staged a new key (kept in its identity file) and its rotation record was
    /// proposed through the leader.
    NodeKeyStaged {
        /// The node.
        node: String,
    },
    /// Frames were sent as `node` under the key it rotated from, once retired.
    RetiredKeyUsed {
        /// The node whose retired key spoke.
        node: String,
        /// To whom.
        to: String,
    },
    /// A fresh node was started that joins through seeds, as the runbook adds one.
    AddNode {
        /// The node.
        node: String,
    },
    /// One bit of the node's partial copy of an artifact was flipped.
    StagingDamaged {
        /// The node.
        node: String,
        /// The artifact.
        artifact: psionic_core::Digest,
        /// The byte damaged.
        offset: u64,
    },
    /// The node's data directory is damaged before its next start.
    Corrupt {
        /// The node.
        node: String,
        /// How.
        what: DiskDamage,
    },
    /// The node's data directory is copied aside before its next start.
    Backup {
        /// The node.
        node: String,
    },
    /// The node's data directory is replaced by its backup before its next start.
    Restore {
        /// The node.
        node: String,
    },
}

/// Damage done to a stopped node's data directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskDamage {
    /// The newest log record is cut short, as a crash mid-write leaves it.
    TornTail,
    /// One bit of a record's length (or of a single-record file) is flipped.
    BitFlip,
    /// The term-and-vote file is gone.
    LostFile,
}

impl DiskDamage {
    /// Whether a node must refuse to start from it (only a torn tail is survivable).
    pub fn refuses_start(self) -> bool {
        self != DiskDamage::TornTail
    }
}

/// A trace shared between the harness and the nodes' observers.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    records: Arc<Mutex<Vec<TraceRecord>>>,
}

impl Trace {
    /// Appends a record.
    pub fn push(&self, record: TraceRecord) {
        self.records.lock().expect("trace lock").push(record);
    }

    /// A copy of every record so far.
    pub fn records(&self) -> Vec<TraceRecord> {
        self.records.lock().expect("trace lock").clone()
    }

    /// The ids `node` started with, in order (a restart keeps the id: one entry per
    /// start).
    pub fn started_as(&self, node: &str) -> Vec<NodeId> {
        let records = self.records.lock().expect("trace lock");
        records
            .iter()
            .filter(|record| record.node == node)
            .filter_map(|record| match record.kind {
                TraceKind::Start { node_id, .. } => Some(node_id),
                _ => None,
            })
            .collect()
    }

    /// The epoch of `node`'s `life`-th start (1: its first), if it has started that
    /// often. Epochs follow the wall clock; scenarios name lives.
    pub fn epoch_of_life(&self, node: &str, life: u64) -> Option<NodeEpoch> {
        let records = self.records.lock().expect("trace lock");
        let mut epochs = records
            .iter()
            .filter(|record| record.node == node)
            .filter_map(|record| match record.kind {
                TraceKind::Start { epoch, .. } => Some(epoch),
                _ => None,
            });
        epochs.nth(usize::try_from(life.checked_sub(1)?).ok()?)
    }

    /// The trace as JSON lines.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for record in self.records.lock().expect("trace lock").iter() {
            out.push_str(&serde_json::to_string(record).expect("trace records serialise"));
            out.push('\n');
        }
        out
    }

    /// SHA-256 (trace domain) over each record's postcard encoding, length-prefixed:
    /// equal traces, equal digests. The trace is not rendered whole.
    pub fn digest(&self) -> Digest {
        let mut digest = DigestWriter::new(DigestKind::Trace);
        let mut encoded = Vec::new();
        for record in self.records.lock().expect("trace lock").iter() {
            encoded.clear();
            let digested = DigestedRecord {
                at_ms: record.at_ms,
                node: &record.node,
                kind: &record.kind,
            };
            encoded = postcard::to_extend(&digested, encoded).expect("trace records encode");
            digest.update_prefixed(&encoded);
        }
        digest.finish()
    }
}

/// A record as the trace digest encodes it: postcard cannot encode the flattened
/// kind of [`TraceRecord`].
#[derive(Serialize)]
struct DigestedRecord<'a> {
    at_ms: u64,
    node: &'a str,
    kind: &'a TraceKind,
}

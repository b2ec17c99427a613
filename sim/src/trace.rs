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
    /// The harness injected a fault.
    Fault {
        /// The fault.
        fault: Fault,
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
    /// A frame the node sent in an earlier epoch is sent again to `to`.
    Replay {
        /// The node whose frame is replayed.
        node: String,
        /// The epoch it was sent in.
        epoch: NodeEpoch,
        /// The receiver.
        to: String,
    },
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

    /// The trace as JSON lines.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for record in self.records.lock().expect("trace lock").iter() {
            out.push_str(&serde_json::to_string(record).expect("trace records serialise"));
            out.push('\n');
        }
        out
    }

    /// SHA-256 (trace domain) over the JSON lines: equal traces, equal digests.
    pub fn digest(&self) -> Digest {
        let mut writer = DigestWriter::new(DigestKind::Trace);
        writer.update_raw(self.to_jsonl().as_bytes());
        writer.finish()
    }
}

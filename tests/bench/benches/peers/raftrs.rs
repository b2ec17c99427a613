//! tikv raft-rs (`RawNode` + `MemStorage`) in the same harness shape: messages handed
//! over in lockstep (as structs: raft-rs has no wire encoding or authentication of
//! its own), entries appended to `MemStorage`.

use raft::eraftpb::Message;
use raft::prelude::*;
use raft::storage::MemStorage;
use raft::{RawNode, StateRole};

/// A raft-rs cluster with an elected leader.
pub struct RaftCluster {
    nodes: Vec<RawNode<MemStorage>>,
    leader: usize,
    /// Entries the leader saw committed.
    committed: u64,
}

impl RaftCluster {
    /// `size` voters; node 1 campaigns and wins.
    pub fn new(size: usize) -> Self {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let voters: Vec<u64> = (1..=size as u64).collect();
        let nodes = voters
            .iter()
            .map(|id| {
                let config = Config {
                    id: *id,
                    election_tick: 10,
                    heartbeat_tick: 1,
                    max_size_per_msg: 1024 * 1024,
                    max_inflight_msgs: 256,
                    ..Config::default()
                };
                let storage = MemStorage::new_with_conf_state((voters.clone(), vec![]));
                RawNode::new(&config, storage, &logger).unwrap()
            })
            .collect();
        let mut cluster = Self {
            nodes,
            leader: 0,
            committed: 0,
        };
        cluster.nodes[0].campaign().unwrap();
        while cluster.pump() {}
        assert_eq!(cluster.nodes[0].raft.state, StateRole::Leader);
        cluster
    }

    /// Proposes `batch` 64-byte commands at the leader and delivers messages in
    /// lockstep until the leader saw them committed.
    pub fn commit_batch(&mut self, batch: usize) {
        let target = self.committed + batch as u64;
        for _ in 0..batch {
            self.nodes[self.leader].propose(vec![], vec![7; 64]).unwrap();
        }
        while self.committed < target {
            assert!(self.pump(), "raft-rs stalled");
        }
    }

    fn pump(&mut self) -> bool {
        let mut in_flight: Vec<Message> = Vec::new();
        for index in 0..self.nodes.len() {
            let committed = ready(&mut self.nodes[index], &mut in_flight);
            if index == self.leader {
                self.committed += committed;
            }
        }
        let delivered = !in_flight.is_empty();
        for message in in_flight {
            let to = message.to as usize - 1;
            self.nodes[to].step(message).unwrap();
        }
        delivered
    }
}

/// Handles one `Ready`: persists, collects messages; returns normal entries committed.
fn ready(node: &mut RawNode<MemStorage>, out: &mut Vec<Message>) -> u64 {
    if !node.has_ready() {
        return 0;
    }
    let mut ready = node.ready();
    out.extend(ready.take_messages());
    let store = node.raft.raft_log.store.clone();
    if !ready.snapshot().is_empty() {
        store.wl().apply_snapshot(ready.snapshot().clone()).unwrap();
    }
    let mut committed = count_data(&ready.take_committed_entries());
    store.wl().append(ready.entries()).unwrap();
    if let Some(hard_state) = ready.hs() {
        store.wl().set_hardstate(hard_state.clone());
    }
    out.extend(ready.take_persisted_messages());
    let mut light = node.advance(ready);
    if let Some(commit) = light.commit_index() {
        store.wl().mut_hard_state().set_commit(commit);
    }
    out.extend(light.take_messages());
    committed += count_data(&light.take_committed_entries());
    node.advance_apply();
    committed
}

fn count_data(entries: &[Entry]) -> u64 {
    entries.iter().filter(|entry| !entry.data.is_empty()).count() as u64
}

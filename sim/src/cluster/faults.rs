//! Faults the harness injects: links cut (whole node, groups, bridges, one direction),
//! stalls, network loss and latency, clock skew, datagram duplication, replays. Each
//! is recorded in the trace as it is applied.

use std::time::Duration;

use psionic_core::NodeEpoch;

use super::SimCluster;
use crate::trace::Fault;

impl SimCluster {
    /// Cuts every link to and from `name`.
    pub fn isolate(&mut self, name: &str) {
        self.net.clog_node(self.node(name).handle.id());
        self.isolated.insert(name.to_owned());
        self.fault(Fault::Isolate { node: name.to_owned() });
    }

    /// Cuts every link between `minority` and every other node.
    pub fn partition(&mut self, minority: &[String]) {
        let rest: Vec<String> = self
            .nodes
            .keys()
            .filter(|name| !minority.contains(name))
            .cloned()
            .collect();
        self.cut_between(minority, &rest);
        self.fault(Fault::Partition {
            minority: minority.to_vec(),
        });
    }

    /// Cuts `left` from `right`; `bridge` keeps its links to both.
    pub fn bridge(&mut self, bridge: &str, left: &[String], right: &[String]) {
        self.cut_between(left, right);
        self.fault(Fault::Bridge {
            node: bridge.to_owned(),
            left: left.to_vec(),
            right: right.to_vec(),
        });
    }

    /// Drops everything `from` sends to `to`; the other direction still works.
    pub fn clog(&mut self, from: &str, to: &str) {
        self.clog_link(from, to);
        self.fault(Fault::Clog {
            from: from.to_owned(),
            to: to.to_owned(),
        });
    }

    /// Restores the links of an isolated node (other cuts stay).
    pub fn reconnect(&mut self, name: &str) {
        if self.isolated.remove(name) {
            self.net.unclog_node(self.node(name).handle.id());
        }
        self.fault(Fault::Reconnect { node: name.to_owned() });
    }

    /// Restores every cut link.
    pub fn heal(&mut self) {
        for name in std::mem::take(&mut self.isolated) {
            self.net.unclog_node(self.node(&name).handle.id());
        }
        for (from, to) in std::mem::take(&mut self.clogged_links) {
            let (from_id, to_id) = (self.node(&from).handle.id(), self.node(&to).handle.id());
            self.net.unclog_link(from_id, to_id);
        }
        self.fault(Fault::Heal);
    }

    /// Whether any link is cut now.
    pub fn links_cut(&self) -> bool {
        !self.isolated.is_empty() || !self.clogged_links.is_empty()
    }

    /// Stops running `name`'s tasks (a long stall); datagrams to it queue up.
    pub fn pause(&mut self, name: &str) {
        self.runtime.pause(self.node(name).handle.id());
        self.paused.insert(name.to_owned());
        self.fault(Fault::Pause { node: name.to_owned() });
    }

    /// Runs a paused node again.
    pub fn resume(&mut self, name: &str) {
        self.runtime.resume(self.node(name).handle.id());
        self.paused.remove(name);
        self.fault(Fault::Resume { node: name.to_owned() });
    }

    /// Paused nodes, in name order.
    pub fn paused(&self) -> Vec<String> {
        self.paused.iter().cloned().collect()
    }

    /// The network the run starts with (not a fault: call before adding nodes).
    pub fn start_network(&mut self, loss: f64, latency_ms: (u64, u64)) {
        let latency = Duration::from_millis(latency_ms.0)..Duration::from_millis(latency_ms.1.max(latency_ms.0 + 1));
        self.net.update_config(|config| {
            config.packet_loss_rate = loss;
            config.send_latency = latency;
        });
        self.network = (loss, latency_ms);
    }

    /// Sets datagram loss (probability) and the latency range from now on.
    pub fn set_network(&mut self, loss: f64, latency_ms: (u64, u64)) {
        self.start_network(loss, latency_ms);
        self.fault(Fault::Network {
            loss_ppm: (loss * 1e6) as u32,
            latency_ms_min: latency_ms.0,
            latency_ms_max: latency_ms.1,
        });
    }

    /// The datagram loss and latency range now in force.
    pub fn network(&self) -> (f64, (u64, u64)) {
        self.network
    }

    /// Skews `name`'s clock from now on: a forward jump, then a rate error.
    pub fn skew_clock(&mut self, name: &str, jump_ms: u64, drift_ppm: i32) {
        self.node(name).spec.settings.clock.set_skew(jump_ms, drift_ppm);
        self.fault(Fault::Clock {
            node: name.to_owned(),
            jump_ms,
            drift_ppm,
        });
    }

    /// Sends each datagram twice with probability `rate` from now on.
    pub fn duplicate(&mut self, rate: f64) {
        let rate_ppm = (rate * 1e6) as u32;
        psionic_net::udp::sim_faults::set_duplicate_ppm(rate_ppm);
        self.fault(Fault::Duplicate { rate_ppm });
    }

    /// Datagrams sent twice so far.
    pub fn duplicated(&self) -> u64 {
        psionic_net::udp::sim_faults::duplicated()
    }

    /// Sends every captured frame that `name` sent in `epoch` to `to`, from the harness
    /// address. Returns how many were sent.
    pub async fn replay(&mut self, name: &str, epoch: NodeEpoch, to: &str) -> usize {
        let frames = self
            .shared
            .state()
            .captured
            .get(&(name.to_owned(), epoch))
            .cloned()
            .unwrap_or_default();
        let target = self.node(to).spec.settings.discovery_bind;
        let count = frames.len();
        self.fault(Fault::Replay {
            node: name.to_owned(),
            epoch,
            to: to.to_owned(),
            frames: count,
        });
        let frames = frames.into_iter().map(|frame| frame.bytes).collect();
        self.send_from_harness(frames, target).await;
        count
    }

    fn cut_between(&mut self, left: &[String], right: &[String]) {
        for a in left {
            for b in right {
                self.clog_link(a, b);
                self.clog_link(b, a);
            }
        }
    }

    fn clog_link(&mut self, from: &str, to: &str) {
        let (from_id, to_id) = (self.node(from).handle.id(), self.node(to).handle.id());
        self.net.clog_link(from_id, to_id);
        self.clogged_links.push((from.to_owned(), to.to_owned()));
    }
}

//! A scenario's simulated seconds per wall second, against a cluster of the same
//! size that only exchanges heartbeat datagrams, measured in one process (D2); and
//! the ceiling that moving and authenticating the scenario's frames alone puts on
//! that ratio.

use std::hint::black_box;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use psionic_core::wire::{AuthKind, Authenticator, Seal, SignedFrame};
use psionic_core::{AdmissionToken, ClusterId, ClusterNamespace, NodeEpoch, NodeIdentity, TrustPosture};
use psionic_sim::baseline::{self, BaselineRun};
use psionic_sim::report::FramesSent;

use crate::runner;
use crate::script::Scenario;

/// Heartbeat when the scenario does not override it.
pub const HEARTBEAT_MS_DEFAULT: u64 = 100;
/// MAC seals and verifies timed to price one frame's authentication.
const MAC_ROUNDS: u32 = 20_000;

/// What a speed measurement found.
#[derive(Clone, Debug, PartialEq)]
pub struct Speed {
    /// Scenario name.
    pub scenario: String,
    /// Seeds run, one at a time.
    pub runs: u64,
    /// Nodes of the last run (each floor starts as many for each seed).
    pub nodes: usize,
    /// The floors' heartbeat period.
    pub heartbeat_ms: u64,
    /// Simulated time of every run together.
    pub sim_s: f64,
    /// Frames the scenario's nodes handed to their transports.
    pub frames: FramesSent,
    /// Wall time of the scenario's runs.
    pub ours_wall: Duration,
    /// Heartbeat datagrams only, for as long in simulated time (the target's peer).
    pub baseline: Floor,
    /// Heartbeats on the peer streams only, for as long in simulated time.
    pub stream_floor: Floor,
    /// Wall microseconds to seal and verify the authenticated bytes of one frame of
    /// the scenario's mean size with the trusted-LAN MAC its nodes use.
    pub mac_us_per_frame: f64,
}

/// The runs of one floor, summed over the seeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Floor {
    /// Wall time.
    pub wall: Duration,
    /// Heartbeats sent.
    pub frames_sent: u64,
    /// Heartbeats received.
    pub frames_received: u64,
}

impl Floor {
    fn add(&mut self, run: BaselineRun) {
        self.wall += run.wall;
        self.frames_sent += run.frames_sent;
        self.frames_received += run.frames_received;
    }

    /// Wall microseconds per heartbeat sent, everything included.
    pub fn wall_us_per_frame(&self) -> f64 {
        us_per(self.wall, self.frames_sent)
    }
}

fn us_per(wall: Duration, frames: u64) -> f64 {
    wall.as_secs_f64() * 1e6 / frames.max(1) as f64
}

impl Speed {
    /// Simulated seconds per wall second of the scenario.
    pub fn ours_sim_s_per_wall_s(&self) -> f64 {
        self.sim_s / self.ours_wall.as_secs_f64().max(1e-9)
    }

    /// Simulated seconds per wall second of the baseline.
    pub fn baseline_sim_s_per_wall_s(&self) -> f64 {
        self.sim_s / self.baseline.wall.as_secs_f64().max(1e-9)
    }

    /// The scenario's speed over the baseline's (D2).
    pub fn ratio(&self) -> f64 {
        self.ours_sim_s_per_wall_s() / self.baseline_sim_s_per_wall_s()
    }

    /// Frames per simulated second: (ours, the baseline's).
    pub fn frames_per_sim_s(&self) -> (f64, f64) {
        let sim_s = self.sim_s.max(1e-9);
        (
            self.frames.total() as f64 / sim_s,
            self.baseline.frames_sent as f64 / sim_s,
        )
    }

    /// Wall microseconds per frame of the scenario, everything included.
    pub fn ours_wall_us_per_frame(&self) -> f64 {
        us_per(self.ours_wall, self.frames.total())
    }

    /// Wall time a node that did nothing but send, receive and authenticate the
    /// scenario's frames would take: each datagram at the baseline's cost, each
    /// stream frame at the stream floor's, each frame sealed and verified once.
    pub fn transport_and_mac_wall(&self) -> Duration {
        let us = self.frames.datagrams as f64 * self.baseline.wall_us_per_frame()
            + self.frames.stream as f64 * self.stream_floor.wall_us_per_frame()
            + self.frames.total() as f64 * self.mac_us_per_frame;
        Duration::from_secs_f64(us / 1e6)
    }

    /// The best [`Self::ratio`] any node could reach on these frames: the baseline's
    /// wall time over [`Self::transport_and_mac_wall`].
    pub fn ratio_ceiling(&self) -> f64 {
        self.baseline.wall.as_secs_f64() / self.transport_and_mac_wall().as_secs_f64().max(1e-9)
    }

    /// Seeds of the scenario per wall minute.
    pub fn seeds_per_minute(&self) -> f64 {
        self.runs as f64 * 60.0 / self.ours_wall.as_secs_f64().max(1e-9)
    }
}

/// Runs `scenario` at each seed, and after each both floors for as long in
/// simulated time; then prices a frame's MAC.
pub fn measure(scenario: &Scenario, seeds: RangeInclusive<u64>) -> Speed {
    let heartbeat_ms = scenario
        .cluster
        .consensus
        .timing
        .heartbeat_interval_ms
        .unwrap_or(HEARTBEAT_MS_DEFAULT);
    let mut speed = Speed {
        scenario: scenario.name.clone(),
        runs: 0,
        nodes: 0,
        heartbeat_ms,
        sim_s: 0.0,
        frames: FramesSent::default(),
        ours_wall: Duration::ZERO,
        baseline: Floor::default(),
        stream_floor: Floor::default(),
        mac_us_per_frame: 0.0,
    };
    for seed in seeds {
        let started = Instant::now();
        let report = runner::run(scenario, seed, None).report;
        speed.ours_wall += started.elapsed();
        let (nodes, sim_ms) = (report.nodes as u8, report.sim_time_ms);
        speed
            .baseline
            .add(baseline::heartbeat_only(seed, nodes, heartbeat_ms, sim_ms));
        speed
            .stream_floor
            .add(baseline::stream_heartbeats(seed, nodes, heartbeat_ms, sim_ms));
        speed.frames.add(report.frames_sent);
        speed.sim_s += sim_ms as f64 / 1000.0;
        speed.nodes = report.nodes;
        speed.runs += 1;
    }
    let authenticated_bytes = speed.frames.authenticated_bytes / speed.frames.total().max(1);
    speed.mac_us_per_frame = mac_us_per_frame(authenticated_bytes as usize);
    speed
}

/// Wall microseconds to seal `body_bytes` and verify the tag, as a sender and a
/// receiver under the trusted-LAN posture do for every frame.
pub fn mac_us_per_frame(body_bytes: usize) -> f64 {
    let namespace = ClusterNamespace::new("speed").expect("a valid namespace");
    let token = AdmissionToken::new(b"speed measurement token".to_vec()).expect("long enough");
    let posture = TrustPosture::TrustedLan { token, next: None };
    let cluster_id = ClusterId::derive(&namespace, b"speed");
    let sender = NodeIdentity::new([7; 32], NodeEpoch(1));
    let receiver = NodeIdentity::new([8; 32], NodeEpoch(1));
    let mut sealer = Authenticator::new(&posture, cluster_id, &sender);
    let mut verifier = Authenticator::new(&posture, cluster_id, &receiver);
    let body = vec![0x5a; body_bytes];
    let sender_key = sender.public_key().to_bytes();
    let started = Instant::now();
    for _ in 0..MAC_ROUNDS {
        let tag = sealer.seal(black_box(&body), Seal::to(&receiver)).expect("a valid key");
        let frame = SignedFrame {
            sender: sender.node_id(),
            sender_key: &sender_key,
            addressed: true,
            kind: AuthKind::Mac,
            body: black_box(&body),
            tag: &tag,
        };
        assert!(
            verifier.verify(&frame).is_ok(),
            "a tag verifies under the key that sealed it"
        );
    }
    us_per(started.elapsed(), u64::from(MAC_ROUNDS))
}

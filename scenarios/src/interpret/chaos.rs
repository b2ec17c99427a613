//! `chaos`: one fault at a time, drawn by the seed, held for a random time, lifted, then
//! a random quiet gap.

use std::time::Duration;

use madsim::rand::Rng;
use madsim::rand::seq::SliceRandom;

use super::Play;
use super::targets::halves;
use crate::script::{ChaosFault, Target};

/// How to undo a fault.
enum Lift {
    Heal,
    Restart(String),
    Resume(String),
    Network(f64, (u64, u64)),
    StopDuplicating,
    SteadyClock(String),
    Nothing,
}

impl Play<'_> {
    pub(super) async fn chaos(&mut self, for_ms: u64, every_ms: (u64, u64), faults: &[ChaosFault]) {
        let until_ms = self.cluster.now_ms() + for_ms;
        while self.cluster.now_ms() < until_ms {
            let Some(&fault) = faults.choose(&mut madsim::rand::thread_rng()) else {
                return;
            };
            let lift = match fault {
                ChaosFault::Transfer
                | ChaosFault::Command
                | ChaosFault::Membership
                | ChaosFault::Rotate
                | ChaosFault::RotateKey => {
                    self.operate(fault).await;
                    Lift::Nothing
                }
                ChaosFault::Impostor => {
                    // Only genesis voters are spoken to (none may be live now), some
                    // of them just restarted: the invariants judge what follows.
                    let _ = self.impostor(&Target::Random, &Target::All, false).await;
                    Lift::Nothing
                }
                _ => self.inject(fault),
            };
            tokio::time::sleep(draw_ms(every_ms)).await;
            self.lift(lift);
            tokio::time::sleep(draw_ms(every_ms)).await;
        }
    }

    fn inject(&mut self, fault: ChaosFault) -> Lift {
        let mut rng = madsim::rand::thread_rng();
        let Ok(node) = self.resolve(&Target::Random, &[]) else {
            return Lift::Nothing;
        };
        match fault {
            ChaosFault::Isolate => {
                self.cluster.isolate(&node);
                Lift::Heal
            }
            ChaosFault::Partition => {
                let (left, _) = halves(self.cluster.live_honest());
                self.cluster.partition(&left);
                Lift::Heal
            }
            ChaosFault::Bridge => {
                let (left, right) = halves(self.everyone_but(&node));
                self.cluster.bridge(&node, &left, &right);
                Lift::Heal
            }
            ChaosFault::Clog => match self.resolve(&Target::Random, std::slice::from_ref(&node)) {
                Ok(other) => {
                    self.cluster.clog(&node, &other);
                    Lift::Heal
                }
                Err(_) => Lift::Nothing,
            },
            ChaosFault::Kill => {
                self.cluster.kill(&node);
                Lift::Restart(node)
            }
            ChaosFault::Pause => {
                self.cluster.pause(&node);
                Lift::Resume(node)
            }
            ChaosFault::Loss => {
                let (loss, latency_ms) = self.cluster.network();
                self.cluster.set_network(rng.gen_range(0.1..0.4), latency_ms);
                Lift::Network(loss, latency_ms)
            }
            ChaosFault::Duplicate => {
                // Only discovery travels by datagram: a short window may see none, so
                // unlike a `duplicate` step this one is not required to fire.
                self.cluster.duplicate(rng.gen_range(0.1..0.3));
                Lift::StopDuplicating
            }
            ChaosFault::Clock => {
                let drift_ppm = rng.gen_range(-50_000..=50_000);
                self.cluster.skew_clock(&node, rng.gen_range(0..2_000), drift_ppm);
                Lift::SteadyClock(node)
            }
            ChaosFault::Transfer
            | ChaosFault::Command
            | ChaosFault::Membership
            | ChaosFault::Impostor
            | ChaosFault::Rotate
            | ChaosFault::RotateKey => Lift::Nothing,
        }
    }

    /// An operator's action drawn by chaos. It may fail (no leader, a change under
    /// way): an operator would try again later; what it does commit is acknowledged
    /// and checked like the rest.
    async fn operate(&mut self, fault: ChaosFault) {
        let mut rng = madsim::rand::thread_rng();
        let within = Duration::from_millis(2_000);
        match fault {
            ChaosFault::Transfer => {
                if let Ok(to) = self.resolve(&Target::Follower, &[]) {
                    let _ = self.cluster.transfer_leadership(&to, within).await;
                }
            }
            ChaosFault::Command => {
                let limit = psionic_core::limits::ENTRY_BYTES_MAX;
                let size_bytes = match rng.gen_range(0..5) {
                    0 => limit + rng.gen_range(0..limit),
                    _ => rng.gen_range(1_024..limit - 1_024),
                };
                let _ = self.command(size_bytes, within).await;
            }
            ChaosFault::Rotate => {
                let _ = self
                    .rotate(crate::script::Rotation::AdmissionToken, None, within, false)
                    .await;
            }
            ChaosFault::RotateKey => {
                let _ = self
                    .rotate(crate::script::Rotation::NodeKey, Some(&Target::Random), within, false)
                    .await;
            }
            ChaosFault::Membership if self.cluster.live_honest().len() >= 4 && self.cluster.names().len() < 48 => {
                let _ = self.remove(&Target::Follower, within, true).await;
                let _ = self.add_node(psionic_core::NodeRole::Both, within).await;
            }
            _ => {}
        }
    }

    fn lift(&mut self, lift: Lift) {
        match lift {
            Lift::Heal => self.cluster.heal(),
            Lift::Restart(node) => self.cluster.restart(&node),
            Lift::Resume(node) => self.cluster.resume(&node),
            Lift::Network(loss, latency_ms) => self.cluster.set_network(loss, latency_ms),
            Lift::StopDuplicating => self.cluster.duplicate(0.0),
            Lift::SteadyClock(node) => self.cluster.skew_clock(&node, 0, 0),
            Lift::Nothing => {}
        }
    }
}

fn draw_ms((min_ms, max_ms): (u64, u64)) -> Duration {
    Duration::from_millis(madsim::rand::thread_rng().gen_range(min_ms..=max_ms))
}

//! The driver loop (the steps documented in `psionic_core`), on one UDP socket.

use std::sync::Arc;

use psionic_core::wire::FRAME_BYTES_MAX;
use psionic_core::{Input, Node, NodeStatus, Output};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::observer::Observer;
use crate::udp::{self, UdpSocket};

pub(crate) struct Driver {
    pub core: Node,
    pub socket: UdpSocket,
    pub clock: Clock,
    pub observer: Arc<dyn Observer>,
    pub status: watch::Sender<NodeStatus>,
    pub shutdown: watch::Receiver<bool>,
}

impl Driver {
    /// Runs until shutdown is signalled.
    pub async fn run(mut self) {
        // One byte over the limit, so an oversize datagram is seen as such.
        let mut buffer = vec![0u8; FRAME_BYTES_MAX + 1];
        loop {
            self.carry_out_outputs().await;
            let deadline = self.core.poll_timeout().map(|at| self.clock.deadline(at));
            // `biased`: branches are polled in this order, with no random draw, so a
            // simulated run depends on its seed only. Timers before datagrams, so a
            // flood of datagrams cannot starve them.
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => break,
                () = sleep_until(deadline) => self.core.handle(self.clock.now(), Input::Timeout),
                received = self.socket.recv_from(&mut buffer) => match received {
                    Ok((len, from)) => {
                        let bytes = buffer[..len].to_vec();
                        self.core.handle(self.clock.now(), Input::Datagram { from, bytes });
                    }
                    Err(error) => tracing::warn!(%error, "udp receive failed"),
                },
            }
        }
    }

    async fn carry_out_outputs(&mut self) {
        let node_id = self.core.node_id();
        let mut changed = false;
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Transmit(transmit) => {
                    self.observer.on_transmit(node_id, &transmit);
                    if let Err(error) = udp::send_to(&self.socket, &transmit.bytes, transmit.to).await {
                        tracing::debug!(%error, to = %transmit.to, "udp send failed");
                    }
                }
                Output::Event(event) => {
                    self.observer.on_event(node_id, self.clock.now(), &event);
                    changed = true;
                }
            }
        }
        if changed {
            self.status.send_replace(self.core.status());
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

//! UDP calls whose signatures differ between tokio and madsim, and (in simulation
//! builds) datagram duplication injected by the harness.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use psionic_core::wire::FRAME_BYTES_MAX;
pub use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::stream::AbortOnDrop;

/// A datagram received: sender and bytes.
pub(crate) type Datagram = (SocketAddr, Vec<u8>);

/// Most datagrams received and waiting for the driver: at most 8 MiB of full-size
/// frames (a flood cannot grow the queue); beyond it the socket's own buffer holds
/// or drops them, as it would if the driver read the socket itself. A link-probe
/// burst is 4 datagrams.
pub(crate) const DATAGRAMS_QUEUED_MAX: usize = 128;

/// Receives datagrams on `socket` into `datagrams` until that channel closes.
///
/// The driver waits on the channel, not on the socket: it drops its wait whenever
/// another input is ready first, and madsim's `recv_from` loses a datagram that
/// arrived for a wait dropped before it was polled again (tokio's does not).
pub(crate) fn spawn_receiver(socket: Arc<UdpSocket>, datagrams: mpsc::Sender<Datagram>) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        // One byte over the limit, so an oversize datagram is seen as such.
        let mut buffer = vec![0u8; FRAME_BYTES_MAX + 1];
        loop {
            match socket.recv_from(&mut buffer).await {
                Ok((len, from)) => {
                    if datagrams.send((from, buffer[..len].to_vec())).await.is_err() {
                        return;
                    }
                }
                Err(error) => tracing::warn!(%error, "udp receive failed"),
            }
        }
    }))
}

/// Sends one datagram (in simulation, possibly twice: see [`sim_faults`]).
pub async fn send_to(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
    #[cfg(madsim)]
    {
        if sim_faults::draw_duplicate() {
            socket.send_to(to, bytes).await?;
        }
        socket.send_to(to, bytes).await
    }
    #[cfg(not(madsim))]
    {
        socket.send_to(bytes, to).await.map(|_| ())
    }
}

/// Datagram faults of the simulated network that madsim does not model. Scoped to the
/// current thread, which is one simulated run.
#[cfg(madsim)]
pub mod sim_faults {
    use std::cell::Cell;

    thread_local! {
        static DUPLICATE_PPM: Cell<u32> = const { Cell::new(0) };
        static DUPLICATED: Cell<u64> = const { Cell::new(0) };
    }

    /// From now on, send each datagram twice with probability `rate_ppm` / 1e6.
    pub fn set_duplicate_ppm(rate_ppm: u32) {
        DUPLICATE_PPM.set(rate_ppm.min(1_000_000));
    }

    /// Datagrams sent twice so far in this run.
    pub fn duplicated() -> u64 {
        DUPLICATED.get()
    }

    /// Clears the faults (a new run on this thread).
    pub fn reset() {
        DUPLICATE_PPM.set(0);
        DUPLICATED.set(0);
    }

    pub(crate) fn draw_duplicate() -> bool {
        let rate_ppm = DUPLICATE_PPM.get();
        let duplicate = rate_ppm > 0 && madsim::rand::random::<u32>() % 1_000_000 < rate_ppm;
        if duplicate {
            DUPLICATED.set(DUPLICATED.get() + 1);
        }
        duplicate
    }
}

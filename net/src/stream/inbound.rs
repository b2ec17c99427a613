//! The accepting side of peer streams, the unauthenticated edge: at most
//! [`STREAM_CONNECTIONS_MAX`] connections at once (more are closed as they arrive), a
//! connection silent for [`STREAM_IDLE`] is closed, a frame's bytes are allocated as
//! they arrive (a length prefix alone reserves nothing), and every connection's end is
//! counted by why it ended.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use psionic_core::wire::FRAME_BYTES_MAX;
use tokio::io::{AsyncRead, AsyncReadExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

use super::{AbortOnDrop, BACKOFF_MIN, Inbound, STREAM_BUFFER_BYTES};

/// Most peer stream connections open at once; a connection past it is closed at once.
pub const STREAM_CONNECTIONS_MAX: usize = 256;
/// A peer stream that delivers no frame for this long is closed (a leader sends
/// heartbeats far more often; a peer with nothing to say reconnects when it has).
pub const STREAM_IDLE: Duration = Duration::from_secs(10);

/// What became of the connections accepted on the peer-stream listener.
#[derive(Debug, Default)]
pub struct StreamCounters {
    accepted: AtomicU64,
    refused_full: AtomicU64,
    ended: AtomicU64,
    idle: AtomicU64,
    oversize: AtomicU64,
}

/// A reading of [`StreamCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCounts {
    /// Connections taken (each counted again below when it ends).
    pub accepted: u64,
    /// Connections closed at once: [`STREAM_CONNECTIONS_MAX`] were open.
    pub refused_full: u64,
    /// Closed by the peer, or cut (a frame cut short is dropped).
    pub ended: u64,
    /// Closed after [`STREAM_IDLE`] without a frame.
    pub idle: u64,
    /// Closed for a length prefix of zero or over the frame limit.
    pub oversize: u64,
}

impl StreamCounts {
    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.accepted.saturating_sub(self.ended + self.idle + self.oversize)
    }
}

impl StreamCounters {
    /// The counts now.
    pub fn read(&self) -> StreamCounts {
        StreamCounts {
            accepted: self.accepted.load(Ordering::Relaxed),
            refused_full: self.refused_full.load(Ordering::Relaxed),
            ended: self.ended.load(Ordering::Relaxed),
            idle: self.idle.load(Ordering::Relaxed),
            oversize: self.oversize.load(Ordering::Relaxed),
        }
    }

    fn count_end(&self, end: StreamEnd) {
        let counter = match end {
            StreamEnd::Ended => &self.ended,
            StreamEnd::Idle => &self.idle,
            StreamEnd::Oversize => &self.oversize,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Why a stream's reader stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamEnd {
    Ended,
    Idle,
    Oversize,
}

/// Accepts connections on `listener`; every frame read goes to `inbound`.
pub fn spawn_acceptor(
    listener: TcpListener,
    inbound: mpsc::Sender<Inbound>,
    counters: Arc<StreamCounters>,
) -> AbortOnDrop {
    let slots = Arc::new(Semaphore::new(STREAM_CONNECTIONS_MAX));
    AbortOnDrop(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, from)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        counters.refused_full.fetch_add(1, Ordering::Relaxed);
                        drop(stream);
                        continue;
                    };
                    counters.accepted.fetch_add(1, Ordering::Relaxed);
                    let (inbound, counters) = (inbound.clone(), counters.clone());
                    tokio::spawn(async move {
                        let end = read_frames(stream, from, inbound).await;
                        counters.count_end(end);
                        drop(slot);
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "stream accept failed");
                    tokio::time::sleep(BACKOFF_MIN).await;
                }
            }
        }
    }))
}

async fn read_frames(stream: TcpStream, from: SocketAddr, inbound: mpsc::Sender<Inbound>) -> StreamEnd {
    let mut stream = BufReader::with_capacity(STREAM_BUFFER_BYTES, stream);
    loop {
        let bytes = match tokio::time::timeout(STREAM_IDLE, read_frame(&mut stream)).await {
            Err(_) => return StreamEnd::Idle,
            Ok(Err(end)) => return end,
            Ok(Ok(bytes)) => bytes,
        };
        if inbound.send(Inbound { from, bytes }).await.is_err() {
            return StreamEnd::Ended;
        }
    }
}

/// One length-prefixed frame; its buffer grows with the bytes received.
async fn read_frame(stream: &mut (impl AsyncRead + Unpin)) -> Result<Vec<u8>, StreamEnd> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.map_err(|_| StreamEnd::Ended)?;
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > FRAME_BYTES_MAX {
        return Err(StreamEnd::Oversize);
    }
    let mut bytes = Vec::new();
    let read = stream.take(len as u64).read_to_end(&mut bytes).await;
    match read {
        Ok(got) if got == len => Ok(bytes),
        _ => Err(StreamEnd::Ended),
    }
}

//! Peer streams: TCP connections carrying length-prefixed frames (`len: u32 LE |
//! frame`), one outgoing connection per peer and direction. Frames are the same
//! authenticated envelopes as datagrams; the core checks them the same way.
//!
//! A writer sends the frames waiting in its queue together (at most
//! [`BATCH_FRAMES_MAX`]) and flushes once; a reader reads through a buffer. A lost
//! connection loses whole frames only (a frame cut short is never delivered);
//! consensus retransmits what matters. Writers reconnect with capped backoff, and
//! drop frames while their queue is full.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

mod inbound;

pub use inbound::{STREAM_CONNECTIONS_MAX, STREAM_IDLE, StreamCounters, StreamCounts, spawn_acceptor};

use tokio::io::{AsyncWriteExt as _, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Frames queued per peer before new ones are dropped.
const QUEUE_FRAMES_MAX: usize = 256;
/// A write that takes longer than this drops the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(20);
/// Most frames written before one flush.
const BATCH_FRAMES_MAX: usize = 64;
/// Buffer of a stream's reader and of its writer.
const STREAM_BUFFER_BYTES: usize = 64 * 1024;
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A frame received on a stream.
#[derive(Debug)]
pub struct Inbound {
    /// The connection's remote address (not the sender's listening address).
    pub from: SocketAddr,
    /// One whole frame.
    pub bytes: Vec<u8>,
}

/// Aborts a task when dropped.
#[derive(Debug)]
pub struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Outgoing streams, one writer task per destination.
#[derive(Debug, Default)]
pub struct Outbound {
    writers: BTreeMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
}

impl Outbound {
    /// Queues `frame` for `to`, starting its writer if needed; drops it if the queue is
    /// full.
    pub fn send(&mut self, to: SocketAddr, frame: Vec<u8>) {
        let writer = self.writers.entry(to).or_insert_with(|| {
            let (sender, receiver) = mpsc::channel(QUEUE_FRAMES_MAX);
            tokio::spawn(write_frames(to, receiver));
            sender
        });
        if writer.try_send(frame).is_err() {
            tracing::debug!(%to, "stream queue full; frame dropped");
        }
    }

    /// Closes the stream to `to` and drops what is queued for it; the next frame
    /// opens a new connection.
    pub fn reset(&mut self, to: SocketAddr) {
        self.writers.remove(&to);
    }
}

async fn write_frames(to: SocketAddr, mut frames: mpsc::Receiver<Vec<u8>>) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let stream = match connect(to).await {
            Ok(stream) => stream,
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_MIN;
        let mut stream = BufWriter::with_capacity(STREAM_BUFFER_BYTES, stream);
        loop {
            let Some(first) = frames.recv().await else { return };
            match tokio::time::timeout(WRITE_TIMEOUT, write_batch(&mut stream, first, &mut frames)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
    }
}

/// A connection to `to` with Nagle's algorithm off: frames are batched and flushed
/// once a batch, and Nagle would only hold a small frame (a read-index request, a
/// vote) back until the previous segment's delayed acknowledgement, 40 ms on Linux.
async fn connect(to: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(to).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Writes `first` and the frames queued behind it (at most [`BATCH_FRAMES_MAX`]),
/// then flushes.
async fn write_batch(
    stream: &mut BufWriter<TcpStream>,
    first: Vec<u8>,
    frames: &mut mpsc::Receiver<Vec<u8>>,
) -> io::Result<()> {
    let mut frame = first;
    for _ in 1..BATCH_FRAMES_MAX {
        write_frame(stream, &frame).await?;
        match frames.try_recv() {
            Ok(next) => frame = next,
            Err(_) => return stream.flush().await,
        }
    }
    write_frame(stream, &frame).await?;
    // Under simulation nothing moves until flush.
    stream.flush().await
}

async fn write_frame(stream: &mut BufWriter<TcpStream>, frame: &[u8]) -> io::Result<()> {
    stream.write_all(&(frame.len() as u32).to_le_bytes()).await?;
    stream.write_all(frame).await
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;
    use psionic_core::wire::FRAME_BYTES_MAX;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt as _;
    use tokio::net::TcpListener;

    /// Polls `counters` until `holds`, for at most thirty seconds (three idle times).
    async fn until(counters: &StreamCounters, holds: impl Fn(StreamCounts) -> bool) -> StreamCounts {
        for _ in 0..3_000 {
            if holds(counters.read()) {
                return counters.read();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("not reached: {:?}", counters.read());
    }

    /// A connection past the cap is closed as it arrives and counted; those within it
    /// stay open.
    #[tokio::test]
    async fn connections_past_the_cap_are_closed_and_counted() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counters = Arc::new(StreamCounters::default());
        let (inbound_tx, _inbound) = mpsc::channel(QUEUE_FRAMES_MAX);
        let _acceptor = spawn_acceptor(listener, inbound_tx, counters.clone());
        let mut open = Vec::new();
        for _ in 0..STREAM_CONNECTIONS_MAX + 20 {
            open.push(TcpStream::connect(addr).await.unwrap());
        }
        let counts = until(&counters, |counts| {
            counts.accepted + counts.refused_full == open.len() as u64
        })
        .await;
        assert_eq!(
            (counts.accepted, counts.refused_full),
            (STREAM_CONNECTIONS_MAX as u64, 20)
        );
        assert_eq!(counts.open(), STREAM_CONNECTIONS_MAX as u64);
        let mut last = open.pop().unwrap();
        let read = tokio::time::timeout(Duration::from_secs(5), last.read(&mut [0u8; 1])).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "the connection past the cap is closed"
        );
    }

    /// A connection that sends nothing is closed after the idle time; one that sends a
    /// length past the frame limit at once.
    #[tokio::test(start_paused = true)]
    async fn silent_and_oversize_connections_are_closed_and_counted() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counters = Arc::new(StreamCounters::default());
        let (inbound_tx, _inbound) = mpsc::channel(QUEUE_FRAMES_MAX);
        let _acceptor = spawn_acceptor(listener, inbound_tx, counters.clone());
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut oversize = TcpStream::connect(addr).await.unwrap();
        oversize
            .write_all(&(FRAME_BYTES_MAX as u32 + 1).to_le_bytes())
            .await
            .unwrap();
        until(&counters, |counts| counts.oversize == 1).await;
        assert_eq!(oversize.read(&mut [0u8; 1]).await.unwrap_or(0), 0);
        let counts = until(&counters, |counts| counts.idle == 1).await;
        assert_eq!(counts.open(), 0);
        assert_eq!(silent.read(&mut [0u8; 1]).await.unwrap_or(0), 0);
    }

    /// Peer streams send each flushed batch at once (R1's follower reads waited 40 ms
    /// at p99 behind delayed acknowledgements before).
    #[tokio::test]
    async fn peer_streams_do_not_wait_for_acknowledgements_to_send() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = connect(listener.local_addr().unwrap()).await.unwrap();
        assert!(stream.nodelay().unwrap());
    }

    /// Frames of every size class (one byte, a buffer's worth, the largest allowed)
    /// arrive whole and in order, however the writer batches them.
    #[tokio::test]
    async fn frames_arrive_whole_and_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (inbound_tx, mut inbound) = mpsc::channel(QUEUE_FRAMES_MAX);
        let _acceptor = spawn_acceptor(listener, inbound_tx, Default::default());
        let sizes = [1, 7, STREAM_BUFFER_BYTES - 4, STREAM_BUFFER_BYTES, FRAME_BYTES_MAX, 300];
        let frames: Vec<Vec<u8>> = (0..200)
            .map(|index| vec![index as u8; sizes[index % sizes.len()]])
            .collect();
        let mut outbound = Outbound::default();
        for (index, frame) in frames.iter().enumerate() {
            outbound.send(addr, frame.clone());
            if index % 3 == 0 {
                tokio::task::yield_now().await;
            }
        }
        for (index, sent) in frames.iter().enumerate() {
            let received = tokio::time::timeout(Duration::from_secs(10), inbound.recv())
                .await
                .expect("every frame arrives")
                .expect("the acceptor runs");
            assert_eq!(received.bytes.len(), sent.len(), "frame {index}");
            assert!(received.bytes == *sent, "frame {index} arrives unchanged");
        }
    }
}

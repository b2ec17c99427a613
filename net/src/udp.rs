//! UDP calls whose signatures differ between tokio and madsim.

use std::io;
use std::net::SocketAddr;

pub use tokio::net::UdpSocket;

/// Sends one datagram.
pub async fn send_to(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
    #[cfg(madsim)]
    {
        socket.send_to(to, bytes).await
    }
    #[cfg(not(madsim))]
    {
        socket.send_to(bytes, to).await.map(|_| ())
    }
}

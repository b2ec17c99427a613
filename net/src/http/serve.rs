//! Serving the operator API, the other unauthenticated edge: at most
//! [`API_CONNECTIONS_MAX`] connections at once (more are closed as they arrive), a
//! request's headers must arrive within [`HEADERS_WITHIN`] and its body within
//! [`BODY_WITHIN`] (a slow client holds a connection no longer; with TLS, the handshake
//! too must end within [`HEADERS_WITHIN`]), and a stop signal lets the requests in
//! flight finish.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use psionic_core::limits::HTTP_BODY_BYTES_MAX;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use super::BodyRefusal;

/// Most operator API connections open at once; one past it is closed at once.
pub const API_CONNECTIONS_MAX: usize = 256;
/// A request whose headers have not all arrived within this closes its connection.
pub const HEADERS_WITHIN: Duration = Duration::from_secs(5);
/// A request whose body has not all arrived within this is answered 408.
pub const BODY_WITHIN: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` (over TLS with `tls`) until `stop`, then lets each open
/// connection finish the request it is on.
pub async fn serve(listener: TcpListener, app: Router, tls: Option<Arc<ServerConfig>>, stop: impl Future<Output = ()>) {
    let acceptor = tls.map(TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(API_CONNECTIONS_MAX));
    let (closing, closed) = watch::channel(false);
    let mut stop = pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "operator API accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let app = app.clone();
        let closed = closed.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(stream, app, closed).await,
                Some(acceptor) => match tokio::time::timeout(HEADERS_WITHIN, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => serve_connection(tls, app, closed).await,
                    Ok(Err(error)) => tracing::debug!(%error, "operator API TLS handshake refused"),
                    Err(_) => tracing::debug!("operator API TLS handshake too slow"),
                },
            }
            drop(slot);
        });
    }
    let _ = closing.send(true);
}

/// Serves one connection until it ends, or, once `closed` changes, until the request
/// it is on is answered.
async fn serve_connection<Io>(io: Io, app: Router, mut closed: watch::Receiver<bool>)
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADERS_WITHIN);
    let mut connection = pin!(builder.serve_connection(TokioIo::new(io), service));
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = closed.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Reads the whole body, at most [`HTTP_BODY_BYTES_MAX`] within [`BODY_WITHIN`],
/// before the handler runs (after the bearer token is checked, where one is needed).
pub(super) async fn read_body_within(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(BODY_WITHIN, axum::body::to_bytes(body, HTTP_BODY_BYTES_MAX)).await;
    match read {
        Err(_) => BodyRefusal::TooSlow {
            within_ms: BODY_WITHIN.as_millis() as u64,
        }
        .into_response(),
        Ok(Err(_)) => BodyRefusal::TooLarge {
            limit_bytes: HTTP_BODY_BYTES_MAX,
        }
        .into_response(),
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    }
}

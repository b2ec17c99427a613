//! One HTTP/1.1 request on a fresh connection to a node's operator API: plain TCP,
//! or TLS trusting the certificates of `--tls-ca`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::cli::{Failed, Failure, Operator};

/// How long a request may take (a proposal waits for its commit).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to read and write.
trait Duplex: Read + Write {}

impl<T: Read + Write> Duplex for T {}

/// One request on a fresh connection; returns the status code and body.
pub fn exchange(
    operator: &Operator,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json: Option<&str>,
) -> Result<(u16, String), Failed> {
    let addr = operator.operator;
    let unreachable = |error: std::io::Error| {
        (
            Failure::Network,
            format!("cannot reach the operator API at {addr}: {error} (is the node running? see `--operator`)"),
        )
    };
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(unreachable)?;
    tcp.set_read_timeout(Some(REQUEST_TIMEOUT)).map_err(unreachable)?;
    let mut stream: Box<dyn Duplex> = match &operator.tls_ca {
        None => Box::new(tcp),
        Some(ca_file) => Box::new(tls(tcp, addr, ca_file)?),
    };
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = bearer {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = json.unwrap_or_default();
    if json.is_some() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).map_err(unreachable)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(unreachable)?;
    let malformed = || (Failure::Network, format!("{addr}: not an HTTP response"));
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(malformed)?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(malformed)?;
    let chunked = head
        .lines()
        .any(|line| line.to_ascii_lowercase().starts_with("transfer-encoding: chunked"));
    Ok((code, if chunked { dechunk(body) } else { body.to_owned() }))
}

/// A TLS client stream over `tcp` to `addr`, whose certificate must chain to one in
/// `ca_file` (PEM) and name `addr`'s IP.
fn tls(tcp: TcpStream, addr: SocketAddr, ca_file: &Path) -> Result<StreamOwned<ClientConnection, TcpStream>, Failed> {
    let config_error = |reason: String| (Failure::Config, format!("{}: {reason}", ca_file.display()));
    let mut roots = RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(ca_file)
        .and_then(|items| items.collect::<Result<Vec<_>, _>>())
        .map_err(|error| config_error(format!("cannot read PEM certificates: {error}")))?;
    let (added, _) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(config_error("holds no usable certificate".to_owned()));
    }
    #[allow(deprecated)] // ring: see the server's configuration
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| config_error(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::IpAddress(addr.ip().into());
    let connection = ClientConnection::new(Arc::new(config), name)
        .map_err(|error| (Failure::Network, format!("{addr}: {error}")))?;
    Ok(StreamOwned::new(connection, tcp))
}

/// The payload of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

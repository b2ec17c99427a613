//! TLS for the operator API: a certificate chain and its private key, both PEM files
//! named in the node's configuration. Without them the API speaks plain HTTP.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the API's certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no PEM item of the kind needed.
    #[error("{path}: cannot read a PEM {what}: {reason}", path = path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// `certificate` or `private key`.
        what: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The private key's file may be read by others than its owner.
    #[error("{path}: the private key is readable by others (mode {mode:o}); chmod 600 it", path = path.display())]
    KeyReadableByOthers {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key does not belong to the certificate, or TLS refuses either.
    #[error("{cert} with {key}: {reason}", cert = cert.display(), key = key.display())]
    Refused {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What TLS said.
        reason: String,
    },
}

/// The server configuration for `cert_file` (a PEM chain, leaf first) and `key_file`
/// (its PEM private key): TLS 1.2 and 1.3, HTTP/1.1.
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let unreadable = |path: &Path, what, reason: String| TlsError::Unreadable {
        path: path.to_owned(),
        what,
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|items| items.collect::<Result<_, _>>())
        .map_err(|error| unreadable(cert_file, "certificate", error.to_string()))?;
    if chain.is_empty() {
        return Err(unreadable(cert_file, "certificate", "no CERTIFICATE block".to_owned()));
    }
    let mode = std::fs::metadata(key_file)
        .map_err(|error| unreadable(key_file, "private key", error.to_string()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(TlsError::KeyReadableByOthers {
            path: key_file.to_owned(),
            mode: mode & 0o777,
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|error| unreadable(key_file, "private key", error.to_string()))?;
    // ring, not aws-lc-rs: it builds with a C compiler alone. Its post-quantum key
    // exchange is missing, which an operator API on a LAN does without.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|error| TlsError::Refused {
            cert: cert_file.to_owned(),
            key: key_file.to_owned(),
            reason: error.to_string(),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

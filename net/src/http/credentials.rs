//! Operator credentials: named bearer tokens, each with its scopes, stored as the
//! SHA-256 of the token (a file of them reveals no token).
//!
//! ```toml
//! [[credential]]
//! id = "ci-reader"                        # letters, digits, '-', '_', '.'; unique
//! scopes = ["read"]                       # read | submit-requests | operate | admin
//! token_sha256 = "<64 hex>"               # `psionic-node credential add` writes these
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use psionic_core::state::Scope;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use psionic_core::limits::CREDENTIAL_ID_LEN_MAX;

/// Ids a credentials file may not use: `operator_token_file`'s, and the one entries
/// proposed through a node's own API record.
pub const RESERVED_IDS: [&str; 2] = [super::auth::OPERATOR_TOKEN_ID, psionic_core::state::LOCAL_CREDENTIAL];

/// One credential.
#[derive(Clone)]
pub struct Credential {
    /// Its name, recorded with what it does.
    pub id: String,
    /// What it may do.
    pub scopes: BTreeSet<Scope>,
    token_sha256: [u8; 32],
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("id", &self.id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Every credential a node accepts.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    entries: Vec<Credential>,
}

/// A credential as written in the file.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredential {
    /// Its name.
    pub id: String,
    /// What it may do.
    pub scopes: BTreeSet<Scope>,
    /// SHA-256 of its token, hex.
    pub token_sha256: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    credential: Vec<RawCredential>,
}

/// Why a credentials file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file could not be read or written.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not a credentials file.
    #[error("{path}: {source}", path = path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why.
        source: Box<toml::de::Error>,
    },
    /// A credential is malformed.
    #[error("{path}: credential[{index}] ({id:?}): {problem}", path = path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Its position.
        index: usize,
        /// Its id as written.
        id: String,
        /// What is wrong.
        problem: &'static str,
    },
}

fn sha256(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl Credentials {
    /// A single credential named `id` holding every scope (the legacy
    /// `operator_token_file`).
    pub fn all_scopes(id: &str, token: &[u8]) -> Self {
        Self {
            entries: vec![Credential {
                id: id.to_owned(),
                scopes: Scope::ALL.into_iter().collect(),
                token_sha256: sha256(token),
            }],
        }
    }

    /// These and `other`'s.
    pub fn with(mut self, other: Credentials) -> Self {
        self.entries.extend(other.entries);
        self
    }

    /// The credentials, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Credential> {
        self.entries.iter()
    }

    /// Whether no credential is accepted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The credentials in `path`.
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let raw = read_raw(path)?;
        let mut entries = Vec::with_capacity(raw.credential.len());
        for (index, credential) in raw.credential.into_iter().enumerate() {
            let invalid = |problem| CredentialsError::Invalid {
                path: path.to_owned(),
                index,
                id: credential.id.clone(),
                problem,
            };
            if !valid_id(&credential.id) {
                return Err(invalid("id: 1 to 64 letters, digits, '-', '_' or '.'"));
            }
            if entries.iter().any(|seen: &Credential| seen.id == credential.id) {
                return Err(invalid("id: used twice"));
            }
            if RESERVED_IDS.contains(&credential.id.as_str()) {
                return Err(invalid("id: reserved (operator-token, local)"));
            }
            if credential.scopes.is_empty() {
                return Err(invalid("scopes: at least one of read, submit-requests, operate, admin"));
            }
            let token_sha256 = psionic_core::digest::from_hex::<32>(credential.token_sha256.trim())
                .ok_or_else(|| invalid("token_sha256: 64 hex digits"))?;
            if entries
                .iter()
                .any(|seen: &Credential| seen.token_sha256 == token_sha256)
            {
                return Err(invalid("token_sha256: another credential's token"));
            }
            entries.push(Credential {
                id: credential.id,
                scopes: credential.scopes,
                token_sha256,
            });
        }
        Ok(Self { entries })
    }

    /// The credential whose token is `token`. Every entry is compared, each in time
    /// independent of where the digests differ.
    pub fn authenticate(&self, token: &[u8]) -> Option<&Credential> {
        let given = sha256(token);
        let mut found = None;
        for credential in &self.entries {
            let difference = given
                .iter()
                .zip(credential.token_sha256.iter())
                .fold(0u8, |difference, (a, b)| difference | (a ^ b));
            if difference == 0 {
                found = Some(credential);
            }
        }
        found
    }
}

/// Appends a credential named `id` with `scopes` and `token` to `path` (created
/// owner-only if absent), refusing an id already there.
pub fn append(path: &Path, id: &str, scopes: BTreeSet<Scope>, token: &[u8]) -> Result<(), CredentialsError> {
    let mut raw = if path.exists() {
        read_raw(path)?
    } else {
        RawFile::default()
    };
    let index = raw.credential.len();
    let invalid = |problem| CredentialsError::Invalid {
        path: path.to_owned(),
        index,
        id: id.to_owned(),
        problem,
    };
    if !valid_id(id) {
        return Err(invalid("id: 1 to 64 letters, digits, '-', '_' or '.'"));
    }
    if raw.credential.iter().any(|credential| credential.id == id) {
        return Err(invalid("id: used twice"));
    }
    if RESERVED_IDS.contains(&id) {
        return Err(invalid("id: reserved (operator-token, local)"));
    }
    if scopes.is_empty() {
        return Err(invalid("scopes: at least one of read, submit-requests, operate, admin"));
    }
    raw.credential.push(RawCredential {
        id: id.to_owned(),
        scopes,
        token_sha256: hex::encode(sha256(token)),
    });
    let text = toml::to_string(&raw).expect("credentials serialise");
    write_private(path, text.as_bytes()).map_err(|source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Removes the credential named `id` from `path`.
pub fn remove(path: &Path, id: &str) -> Result<(), CredentialsError> {
    let mut raw = read_raw(path)?;
    let Some(index) = raw.credential.iter().position(|credential| credential.id == id) else {
        return Err(CredentialsError::Invalid {
            path: path.to_owned(),
            index: raw.credential.len(),
            id: id.to_owned(),
            problem: "id: no such credential",
        });
    };
    raw.credential.remove(index);
    let text = toml::to_string(&raw).expect("credentials serialise");
    write_private(path, text.as_bytes()).map_err(|source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    })
}

fn read_raw(path: &Path) -> Result<RawFile, CredentialsError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| CredentialsError::Parse {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

/// Writes `bytes` to `path` through a temporary file renamed over it, mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

fn valid_id(id: &str) -> bool {
    (1..=CREDENTIAL_ID_LEN_MAX).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests;

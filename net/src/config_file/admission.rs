//! Where a trusted-LAN node's admission tokens come from (read at start, and again
//! with the rest of the configuration on SIGHUP: a rotation's next token is added, or
//! becomes the only one, without a restart).

use std::path::{Path, PathBuf};

use psionic_core::{AdmissionToken, TrustPosture};

use super::{ConfigFileError, SecretFile, read_secret};

/// The admission token files of the trusted-LAN posture.
#[derive(Clone, Debug)]
pub struct AdmissionTokenFiles {
    /// `admission_token_file`: the token in force.
    pub token_file: PathBuf,
    /// `admission_token_next_file`: the token that replaces it, accepted alongside
    /// until the cluster commits a cut-over to it.
    pub next_file: Option<PathBuf>,
}

impl AdmissionTokenFiles {
    /// The files named, relative to `base`.
    pub fn new(base: &Path, token_file: &Path, next_file: Option<&Path>) -> Self {
        Self {
            token_file: base.join(token_file),
            next_file: next_file.map(|file| base.join(file)),
        }
    }

    /// The posture the files hold now.
    pub fn load(&self) -> Result<TrustPosture, ConfigFileError> {
        let token = read_token(&self.token_file)?;
        let next = self.next_file.as_deref().map(read_token).transpose()?;
        Ok(TrustPosture::TrustedLan { token, next })
    }
}

fn read_token(path: &Path) -> Result<AdmissionToken, ConfigFileError> {
    let secret = read_secret(path, SecretFile::AdmissionToken, AdmissionToken::LEN_MIN)?;
    Ok(AdmissionToken::new(secret).expect("length checked"))
}

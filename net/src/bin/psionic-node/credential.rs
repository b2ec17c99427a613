//! `credential add` and `credential list`: the operator credentials file, tokens
//! printed (or written) once and stored only as digests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use psionic_core::state::Scope;
use psionic_net::http::credentials::{Credentials, append};
use psionic_net::identity_file::generate_secret_key;

use crate::cli::{Failed, Failure};

/// A scope named on the command line.
pub fn parse_scope(name: &str) -> Result<Scope, String> {
    Scope::ALL
        .into_iter()
        .find(|scope| scope.name() == name)
        .ok_or_else(|| format!("{name:?}: expected one of read, submit-requests, operate, admin"))
}

/// Adds credential `id` with `scopes` to `file`: a fresh 256-bit token, printed, or
/// written owner-only to `token_out`.
pub fn add(file: &Path, id: &str, scopes: &[Scope], token_out: Option<&PathBuf>) -> Result<(), Failed> {
    let token = hex::encode(generate_secret_key());
    if let Some(out) = token_out {
        crate::demo::write_owner_only(out, &format!("{token}\n"))?;
    }
    let scopes: BTreeSet<Scope> = scopes.iter().copied().collect();
    append(file, id, scopes.clone(), token.as_bytes()).map_err(|error| (Failure::Config, error.to_string()))?;
    let names: Vec<&str> = scopes.iter().map(|scope| scope.name()).collect();
    println!("credential {id} ({}) added to {}", names.join(", "), file.display());
    match token_out {
        Some(out) => println!("token      written to {}", out.display()),
        None => println!("token      {token}   (shown once: only its digest is stored)"),
    }
    Ok(())
}

/// Removes credential `id` from `file`; running nodes drop it on SIGHUP.
pub fn remove(file: &Path, id: &str) -> Result<(), Failed> {
    psionic_net::http::credentials::remove(file, id).map_err(|error| (Failure::Config, error.to_string()))?;
    println!("credential {id} removed from {}", file.display());
    Ok(())
}

/// Lists the credentials in `file`: ids and scopes.
pub fn list(file: &Path) -> Result<(), Failed> {
    let credentials = Credentials::load(file).map_err(|error| (Failure::Config, error.to_string()))?;
    for credential in credentials.iter() {
        let names: Vec<&str> = credential.scopes.iter().map(|scope| scope.name()).collect();
        println!("{:<24} {}", credential.id, names.join(", "));
    }
    Ok(())
}

//! Tokens and the digest an answer's evidence signs over them.

use crate::digest::{Digest, DigestKind, DigestWriter};

/// A token: an id in its model's vocabulary.
pub type Token = u32;

/// SHA-256 (output domain) over `tokens`, each as four little-endian bytes.
pub fn output_digest(tokens: &[Token]) -> Digest {
    let mut writer = DigestWriter::new(DigestKind::Output);
    for token in tokens {
        writer.update_raw(&token.to_le_bytes());
    }
    writer.finish()
}

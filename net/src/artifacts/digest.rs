//! An artifact's digest: its files in name order, each named and length-prefixed,
//! under the artifact domain, read in chunks (a model may be larger than memory).

use std::io::Read as _;
use std::path::Path;

use psionic_core::Digest;
use psionic_core::staging::ArtifactHasher;

/// The files of a model directory that make up the artifact, in name order.
pub const ARTIFACT_FILES: [&str; 4] = [
    psionic_model::CONFIG_FILE,
    psionic_model::gguf::GGUF_FILE,
    psionic_model::WEIGHTS_FILE,
    psionic_model::TOKENIZER_FILE,
];

const READ_CHUNK_BYTES: usize = 1 << 20;

/// The digest of the model in `dir` (files of [`ARTIFACT_FILES`] that are present),
/// with their total bytes.
pub fn artifact_digest(dir: &Path) -> std::io::Result<(Digest, u64)> {
    let mut writer = ArtifactHasher::default();
    let mut total = 0u64;
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    for name in ARTIFACT_FILES {
        let path = dir.join(name);
        // Only regular files: opening a FIFO would wait for a writer forever.
        if !std::fs::metadata(&path).is_ok_and(|metadata| metadata.is_file()) {
            continue;
        }
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        let len = file.metadata()?.len();
        writer.begin_file(name, len);
        let mut read = 0u64;
        loop {
            let n = file.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            read = read.saturating_add(n as u64);
            writer.update(&chunk[..n]);
        }
        if read != len {
            let message = format!(
                "{} changed while it was read ({len} bytes, then {read})",
                path.display()
            );
            return Err(std::io::Error::other(message));
        }
        total = total.saturating_add(len);
    }
    Ok((writer.finish(), total))
}

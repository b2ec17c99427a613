//! Tokens, how the executing node chooses each (the most likely one, or a draw at a
//! temperature from a generator seeded by the request, so the same request gives the
//! same tokens on any node and in any run), and the digest evidence signs over them.

use serde::{Deserialize, Serialize};

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

/// Highest temperature accepted, in thousandths.
pub const TEMPERATURE_MILLI_MAX: u32 = 10_000;

/// How tokens are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sampling {
    /// The most likely token (the lowest on a tie).
    #[default]
    Greedy,
    /// Drawn from the logits divided by the temperature.
    Seeded {
        /// The temperature in thousandths: 1 to [`TEMPERATURE_MILLI_MAX`].
        temperature_milli: u32,
        /// The generator's seed.
        seed: u64,
    },
}

impl Sampling {
    /// A temperature of `temperature_milli` thousandths (zero: greedy) drawn with `seed`.
    pub fn at(temperature_milli: u32, seed: u64) -> Self {
        match temperature_milli {
            0 => Sampling::Greedy,
            _ => Sampling::Seeded {
                temperature_milli,
                seed,
            },
        }
    }
}

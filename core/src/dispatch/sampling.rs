//! How the executing node chooses each token: the most likely one, or a draw at a
//! temperature from a generator seeded by the request, so the same request gives the
//! same tokens on any node and in any run.

use serde::{Deserialize, Serialize};

use super::ShapeRefusal;

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

    /// Checks the temperature against [`TEMPERATURE_MILLI_MAX`].
    pub fn check(&self) -> Result<(), ShapeRefusal> {
        match *self {
            Sampling::Seeded { temperature_milli, .. } if temperature_milli > TEMPERATURE_MILLI_MAX => {
                Err(ShapeRefusal::Temperature {
                    given_milli: temperature_milli,
                    max_milli: TEMPERATURE_MILLI_MAX,
                })
            }
            _ => Ok(()),
        }
    }
}

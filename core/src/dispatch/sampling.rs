//! The bound a request's sampling is checked against when it is submitted.

use super::ShapeRefusal;
use crate::token::{Sampling, TEMPERATURE_MILLI_MAX};

impl Sampling {
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

//! Choosing the next token from logits: greedy, or drawn at a temperature from a
//! seeded generator (the same seed gives the same tokens on every node).

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// How tokens are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    /// The most likely token (the lowest on a tie).
    Greedy,
    /// Drawn from the logits scaled by `1 / temperature`, with a generator seeded by
    /// `seed`.
    Seeded {
        /// Above zero; 1 leaves the logits as they are.
        temperature: f32,
        /// The generator's seed.
        seed: u64,
    },
}

/// Chooses tokens one after another.
#[derive(Debug)]
pub struct Sampler {
    temperature: f32,
    rng: Option<ChaCha8Rng>,
}

impl Sampler {
    /// A sampler for `sampling` (a temperature that is not above zero is greedy).
    pub fn new(sampling: Sampling) -> Self {
        match sampling {
            Sampling::Seeded { temperature, seed } if temperature > 0.0 && temperature.is_finite() => Self {
                temperature,
                rng: Some(ChaCha8Rng::seed_from_u64(seed)),
            },
            _ => Self {
                temperature: 1.0,
                rng: None,
            },
        }
    }

    /// The next token.
    pub fn next(&mut self, logits: &[f32]) -> u32 {
        let Some(rng) = self.rng.as_mut() else {
            return greedy(logits);
        };
        let max = logits
            .iter()
            .copied()
            .filter(|l| l.is_finite())
            .fold(f32::MIN, f32::max);
        let weights: Vec<f64> = logits
            .iter()
            .map(|logit| match logit.is_finite() {
                true => f64::from((logit - max) / self.temperature).exp(),
                false => 0.0,
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut draw = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        for (token, weight) in weights.iter().enumerate() {
            if draw < *weight {
                return token as u32;
            }
            draw -= weight;
        }
        greedy(logits)
    }
}

/// The index of the highest logit (the lowest index on a tie; NaN counts lowest).
pub fn greedy(logits: &[f32]) -> u32 {
    let mut best: Option<(usize, f32)> = None;
    for (token, logit) in logits.iter().enumerate().filter(|(_, logit)| !logit.is_nan()) {
        if best.is_none_or(|(_, highest)| *logit > highest) {
            best = Some((token, *logit));
        }
    }
    best.map_or(0, |(token, _)| token as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_highest_and_the_lowest_on_a_tie() {
        assert_eq!(greedy(&[0.5, 2.0, 2.0, -1.0]), 1);
        assert_eq!(greedy(&[f32::NAN, 1.0, 0.0]), 1);
    }

    #[test]
    fn the_same_seed_draws_the_same_tokens_and_another_seed_others() {
        let logits: Vec<f32> = (0..64).map(|i| (i % 7) as f32 * 0.3).collect();
        let draw = |seed| {
            let mut sampler = Sampler::new(Sampling::Seeded { temperature: 1.0, seed });
            (0..32).map(|_| sampler.next(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert!(
            draw(7).iter().any(|token| *token != greedy(&logits)),
            "a draw is not always greedy"
        );
    }

    #[test]
    fn a_low_temperature_is_nearly_greedy() {
        let logits = [0.0, 1.0, 5.0, 2.0];
        let mut sampler = Sampler::new(Sampling::Seeded {
            temperature: 0.01,
            seed: 1,
        });
        assert!((0..100).all(|_| sampler.next(&logits) == 2));
    }
}

//! Tokenizers a model directory may ship: today the byte-level one, where each byte of
//! the prompt is a token and each token below 256 is a byte.

use serde::{Deserialize, Serialize};

/// What `tokenizer.json` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Tokenizer {
    /// One token per byte.
    ByteLevel,
}

impl Tokenizer {
    /// The prompt's tokens.
    pub fn encode(&self, text: &[u8]) -> Vec<u32> {
        match self {
            Tokenizer::ByteLevel => text.iter().map(|byte| u32::from(*byte)).collect(),
        }
    }

    /// A token's bytes (none for a token that is not a byte).
    pub fn decode(&self, token: u32) -> Option<u8> {
        match self {
            Tokenizer::ByteLevel => u8::try_from(token).ok(),
        }
    }
}

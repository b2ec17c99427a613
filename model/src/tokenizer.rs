//! The tokenizer a model ships: the byte-level one of the test model (each byte a
//! token, each token below 256 a byte), or the byte-level BPE of a GGUF file.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bpe::Bpe;

/// What `tokenizer.json` of a safetensors model directory says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum TokenizerFile {
    /// One token per byte.
    ByteLevel,
}

/// How text becomes tokens and tokens text.
#[derive(Clone, Debug)]
pub enum Tokenizer {
    /// One token per byte.
    ByteLevel,
    /// Byte-level BPE.
    Bpe(Arc<Bpe>),
}

impl Tokenizer {
    /// The prompt's tokens (a BPE tokenizer reads it as UTF-8, replacing what is not).
    pub fn encode(&self, text: &[u8]) -> Vec<u32> {
        match self {
            Tokenizer::ByteLevel => text.iter().map(|byte| u32::from(*byte)).collect(),
            Tokenizer::Bpe(bpe) => bpe.encode(&String::from_utf8_lossy(text)),
        }
    }

    /// Appends the bytes `token` stands for to `out` (a byte-level token above 255
    /// stands for U+FFFD; a control token for nothing).
    pub fn bytes_of(&self, token: u32, out: &mut Vec<u8>) {
        match self {
            Tokenizer::ByteLevel => match u8::try_from(token) {
                Ok(byte) => out.push(byte),
                Err(_) => out.extend_from_slice(char::REPLACEMENT_CHARACTER.encode_utf8(&mut [0; 4]).as_bytes()),
            },
            Tokenizer::Bpe(bpe) => bpe.bytes_of(token, out),
        }
    }

    /// The bytes of `tokens`.
    pub fn decode(&self, tokens: &[u32]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for token in tokens {
            self.bytes_of(*token, &mut bytes);
        }
        bytes
    }
}

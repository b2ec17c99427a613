//! Byte-level BPE (GPT-2's scheme, as GGUF files of llama models ship it): text is
//! split into pieces (letters, digits one at a time, punctuation, whitespace, each
//! word keeping the space before it), each piece's bytes are spelt in GPT-2's
//! printable byte alphabet, and adjacent symbols are merged by rank until no merge
//! applies. Control tokens (`<|im_start|>`, ...) written in the text are taken whole.

use std::collections::HashMap;

/// A byte-level BPE vocabulary.
#[derive(Debug)]
pub struct Bpe {
    ids: HashMap<String, u32>,
    tokens: Vec<String>,
    control: Vec<bool>,
    /// Control tokens' texts, longest first.
    control_texts: Vec<(String, u32)>,
    ranks: HashMap<String, usize>,
    byte_chars: [char; 256],
    char_bytes: HashMap<char, u8>,
}

/// GPT-2's alphabet: printable bytes stand for themselves, the rest for the code
/// points from 256 on, in byte order.
fn byte_alphabet() -> [char; 256] {
    let printable = |byte: u8| matches!(byte, 33..=126 | 161..=172 | 174..=255);
    let mut chars = ['\0'; 256];
    let mut next = 256u32;
    for byte in 0..=255u8 {
        chars[byte as usize] = match printable(byte) {
            true => char::from(byte),
            false => {
                next += 1;
                char::from_u32(next - 1).expect("code points from 256 are chars")
            }
        };
    }
    chars
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    Space,
    Other,
}

fn class_of(c: char) -> Class {
    if c.is_alphabetic() {
        Class::Letter
    } else if c.is_numeric() {
        Class::Digit
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Other
    }
}

const CONTRACTIONS: [&str; 7] = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

/// The pieces BPE runs on, in order.
fn pieces(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let class = |at: usize| chars.get(at).map(|(_, c)| class_of(*c));
    let offset = |at: usize| chars.get(at).map_or(text.len(), |(offset, _)| *offset);
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let (start, c) = chars[at];
        let contraction = CONTRACTIONS.iter().find(|word| text[start..].starts_with(*word));
        let end = if let Some(word) = contraction {
            at + word.chars().count()
        } else if class(at) == Some(Class::Digit) {
            at + 1
        } else {
            let prefixed = c == ' ' && matches!(class(at + 1), Some(Class::Letter | Class::Other));
            let first = if prefixed { at + 1 } else { at };
            let kind = class(first);
            let mut end = first + 1;
            while end < chars.len() && class(end) == kind {
                end += 1;
            }
            // A run of whitespace leaves its last character to the word after it.
            if kind == Some(Class::Space) && end < chars.len() && end - first > 1 {
                end -= 1;
            }
            end
        };
        pieces.push(&text[start..offset(end)]);
        at = end;
    }
    pieces
}

impl Bpe {
    /// The vocabulary of `tokens` (by id), `merges` (`"left right"`, by rank) and which
    /// tokens are control tokens.
    pub fn new(tokens: &[&str], merges: &[&str], control: &[bool]) -> Self {
        let byte_chars = byte_alphabet();
        let mut control_texts: Vec<(String, u32)> = tokens
            .iter()
            .zip(control)
            .enumerate()
            .filter(|(_, (text, control))| **control && !text.is_empty())
            .map(|(id, (text, _))| ((*text).to_owned(), id as u32))
            .collect();
        control_texts.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        Self {
            ids: tokens
                .iter()
                .enumerate()
                .map(|(id, text)| ((*text).to_owned(), id as u32))
                .collect(),
            tokens: tokens.iter().map(|text| (*text).to_owned()).collect(),
            control: control.to_vec(),
            control_texts,
            ranks: merges
                .iter()
                .enumerate()
                .map(|(rank, merge)| ((*merge).to_owned(), rank))
                .collect(),
            char_bytes: byte_chars
                .iter()
                .enumerate()
                .map(|(byte, c)| (*c, byte as u8))
                .collect(),
            byte_chars,
        }
    }

    /// Tokens in the vocabulary.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The tokens of `text`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut tokens = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let next_control = self
                .control_texts
                .iter()
                .filter_map(|(control, id)| rest.find(control.as_str()).map(|at| (at, control.len(), *id)))
                .min_by_key(|(at, len, _)| (*at, usize::MAX - len));
            let (plain, control) = match next_control {
                Some((at, len, id)) => (&rest[..at], Some((len, id))),
                None => (rest, None),
            };
            for piece in pieces(plain) {
                self.encode_piece(piece, &mut tokens);
            }
            match control {
                Some((len, id)) => {
                    tokens.push(id);
                    rest = &rest[plain.len() + len..];
                }
                None => rest = "",
            }
        }
        tokens
    }

    fn encode_piece(&self, piece: &str, tokens: &mut Vec<u32>) {
        let mut symbols: Vec<String> = piece
            .bytes()
            .map(|byte| self.byte_chars[byte as usize].to_string())
            .collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(at, pair)| {
                    self.ranks
                        .get(&format!("{} {}", pair[0], pair[1]))
                        .map(|rank| (*rank, at))
                })
                .min();
            let Some((_, at)) = best else { break };
            let right = symbols.remove(at + 1);
            symbols[at].push_str(&right);
        }
        for symbol in symbols {
            match self.ids.get(&symbol) {
                Some(id) => tokens.push(*id),
                // A symbol the vocabulary lacks: its bytes one by one, as far as known.
                None => tokens.extend(symbol.chars().filter_map(|c| self.ids.get(&c.to_string()).copied())),
            }
        }
    }

    /// The bytes `token` stands for (none for a control token or one outside the
    /// vocabulary).
    pub fn bytes_of(&self, token: u32, out: &mut Vec<u8>) {
        let index = token as usize;
        if self.control.get(index).copied().unwrap_or(false) {
            return;
        }
        let Some(text) = self.tokens.get(index) else { return };
        for c in text.chars() {
            match self.char_bytes.get(&c) {
                Some(byte) => out.push(*byte),
                None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_splits_into_words_with_their_space_digits_alone_and_whitespace_before_them() {
        assert_eq!(
            pieces("Hello, world! It's 42  x\n\ny"),
            [
                "Hello", ",", " world", "!", " It", "'s", " ", "4", "2", " ", " x", "\n", "\n", "y"
            ]
        );
    }

    #[test]
    fn merges_apply_by_rank_and_every_byte_round_trips() {
        let mut tokens: Vec<String> = byte_alphabet().iter().map(char::to_string).collect();
        tokens.extend([
            "he".to_owned(),
            "ll".to_owned(),
            "hell".to_owned(),
            "<|end|>".to_owned(),
        ]);
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let mut control = vec![false; refs.len()];
        control[259] = true;
        let bpe = Bpe::new(&refs, &["h e", "l l", "he ll"], &control);
        let encoded = bpe.encode("hello<|end|>\u{e9}");
        assert_eq!(&encoded[..3], &[258, u32::from(b'o'), 259]);
        let mut bytes = Vec::new();
        for token in &encoded {
            bpe.bytes_of(*token, &mut bytes);
        }
        assert_eq!(bytes, "hello\u{e9}".as_bytes(), "the control token stands for no bytes");
    }
}

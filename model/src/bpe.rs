//! Byte-level BPE (GPT-2's scheme, as GGUF files of llama models ship it): text is
//! split into pieces (letters, digits one at a time, punctuation, whitespace, each
//! word keeping the space before it), each piece's bytes are spelt in GPT-2's
//! printable byte alphabet, and adjacent symbols are merged by rank until no merge
//! applies. Control tokens (`<|im_start|>`, ...) written in the text are taken whole.

use std::collections::HashMap;

/// A byte-level BPE vocabulary.
#[derive(Debug)]
pub struct Bpe {
    tokens: Vec<String>,
    control: Vec<bool>,
    /// Control tokens' texts (at most [`CONTROL_TEXT_BYTES_MAX`] bytes), as a trie.
    control_trie: Trie,
    /// The token of each byte (none where the vocabulary lacks it).
    byte_tokens: [Option<u32>; 256],
    /// Each merge of two tokens: its rank and the token it makes.
    merges: HashMap<(u32, u32), (u32, u32)>,
    char_bytes: HashMap<char, u8>,
}

/// Longest control token looked for in a prompt.
const CONTROL_TEXT_BYTES_MAX: usize = 64;

/// Byte strings and the token each names, for the longest match at a position.
#[derive(Debug, Default)]
struct Trie {
    nodes: Vec<(std::collections::BTreeMap<u8, usize>, Option<u32>)>,
}

impl Trie {
    fn insert(&mut self, text: &[u8], token: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(Default::default());
        }
        let mut at = 0;
        for byte in text {
            at = match self.nodes[at].0.get(byte) {
                Some(next) => *next,
                None => {
                    self.nodes.push(Default::default());
                    let next = self.nodes.len() - 1;
                    self.nodes[at].0.insert(*byte, next);
                    next
                }
            };
        }
        self.nodes[at].1.get_or_insert(token);
    }

    /// The longest text at the start of `bytes`: its length and token.
    fn longest(&self, bytes: &[u8]) -> Option<(usize, u32)> {
        let mut at = 0;
        let mut found = None;
        for (len, byte) in bytes.iter().enumerate() {
            let Some(next) = self.nodes.get(at).and_then(|node| node.0.get(byte)) else {
                break;
            };
            at = *next;
            if let Some(token) = self.nodes[at].1 {
                found = Some((len + 1, token));
            }
        }
        found
    }
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
            // A run of whitespace leaves its last character to the word after it
            // (digits were split off first: before one, the run ends a segment).
            let before_word = matches!(class(end), Some(Class::Letter | Class::Other | Class::Space));
            if kind == Some(Class::Space) && before_word && end - first > 1 {
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
    /// The vocabulary of `tokens` (by id), `merges` (`"left right"`, by rank; one
    /// naming a token the vocabulary lacks is ignored) and which tokens are control
    /// tokens.
    pub fn new(tokens: &[&str], merges: &[&str], control: &[bool]) -> Self {
        let byte_chars = byte_alphabet();
        let ids: HashMap<&str, u32> = tokens.iter().enumerate().map(|(id, text)| (*text, id as u32)).collect();
        let mut control_trie = Trie::default();
        for (id, (text, control)) in tokens.iter().zip(control).enumerate() {
            if *control && !text.is_empty() && text.len() <= CONTROL_TEXT_BYTES_MAX {
                control_trie.insert(text.as_bytes(), id as u32);
            }
        }
        let mut byte_tokens = [None; 256];
        for (byte, c) in byte_chars.iter().enumerate() {
            byte_tokens[byte] = ids.get(c.to_string().as_str()).copied();
        }
        let mut merged = HashMap::new();
        for (rank, merge) in merges.iter().enumerate() {
            let Some((left, right)) = merge.split_once(' ') else {
                continue;
            };
            let whole = format!("{left}{right}");
            if let (Some(left), Some(right), Some(whole)) = (ids.get(left), ids.get(right), ids.get(whole.as_str())) {
                merged.entry((*left, *right)).or_insert((rank as u32, *whole));
            }
        }
        Self {
            tokens: tokens.iter().map(|text| (*text).to_owned()).collect(),
            control: control.to_vec(),
            control_trie,
            byte_tokens,
            merges: merged,
            char_bytes: byte_chars
                .iter()
                .enumerate()
                .map(|(byte, c)| (*c, byte as u8))
                .collect(),
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
        let bytes = text.as_bytes();
        let mut plain_from = 0;
        let mut at = 0;
        while at < bytes.len() {
            let control = match text.is_char_boundary(at) {
                true => self.control_trie.longest(&bytes[at..]),
                false => None,
            };
            let Some((len, token)) = control else {
                at += 1;
                continue;
            };
            for piece in pieces(&text[plain_from..at]) {
                self.encode_piece(piece, &mut tokens);
            }
            tokens.push(token);
            at += len;
            plain_from = at;
        }
        for piece in pieces(&text[plain_from..]) {
            self.encode_piece(piece, &mut tokens);
        }
        tokens
    }

    /// Merges the piece's byte tokens, lowest rank first (leftmost on a tie), in
    /// O(n log n): symbols are a linked list, candidate merges a heap checked when
    /// popped.
    fn encode_piece(&self, piece: &str, tokens: &mut Vec<u32>) {
        let mut symbols: Vec<Option<u32>> = piece.bytes().map(|byte| self.byte_tokens[byte as usize]).collect();
        let len = symbols.len();
        let mut next: Vec<usize> = (1..=len).collect();
        let mut prev: Vec<Option<usize>> = (0..len).map(|at| at.checked_sub(1)).collect();
        let mut heap = std::collections::BinaryHeap::new();
        let candidate = |symbols: &[Option<u32>], left: usize, right: usize| {
            let pair = (symbols[left]?, symbols.get(right).copied().flatten()?);
            let (rank, whole) = self.merges.get(&pair)?;
            Some(std::cmp::Reverse((*rank, left, right, pair, *whole)))
        };
        for left in 0..len.saturating_sub(1) {
            heap.extend(candidate(&symbols, left, left + 1));
        }
        while let Some(std::cmp::Reverse((_, left, right, pair, whole))) = heap.pop() {
            // Stale: either side was merged since.
            if next[left] != right || (symbols[left], symbols[right]) != (Some(pair.0), Some(pair.1)) {
                continue;
            }
            symbols[left] = Some(whole);
            symbols[right] = None;
            next[left] = next[right];
            if next[left] < len {
                prev[next[left]] = Some(left);
                heap.extend(candidate(&symbols, left, next[left]));
            }
            if let Some(before) = prev[left] {
                heap.extend(candidate(&symbols, before, left));
            }
        }
        let mut at = 0;
        while at < len {
            tokens.extend(symbols[at]);
            at = next[at];
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

//! Text in and out: a chat's prompt, and the bytes of tokens turned into text without
//! splitting a character across two chunks.

use crate::api::openai::ChatMessage;

/// The prompt of a conversation: `role: content` per message, then `assistant:`.
pub(super) fn chat_prompt(messages: &[ChatMessage]) -> String {
    let mut prompt: String = messages
        .iter()
        .map(|message| format!("{}: {}\n", message.role, message.content))
        .collect();
    prompt.push_str("assistant:");
    prompt
}

/// Bytes arriving in pieces, handed out as text: a character split across pieces is
/// held until it is whole; bytes that can never be a character become U+FFFD.
#[derive(Debug, Default)]
pub(super) struct Utf8Pieces {
    pending: Vec<u8>,
}

impl Utf8Pieces {
    /// The text `bytes` complete.
    pub(super) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut text = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(valid) => {
                    text.push_str(valid);
                    self.pending.clear();
                    return text;
                }
                Err(error) => {
                    let valid_up_to = error.valid_up_to();
                    text.push_str(std::str::from_utf8(&self.pending[..valid_up_to]).expect("checked valid"));
                    match error.error_len() {
                        // An incomplete character at the end: wait for the rest.
                        None => {
                            self.pending.drain(..valid_up_to);
                            return text;
                        }
                        Some(invalid) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid_up_to + invalid);
                        }
                    }
                }
            }
        }
    }

    /// What is left once no more bytes come (an incomplete character: U+FFFD).
    pub(super) fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_pieces_is_handed_out_whole() {
        let mut pieces = Utf8Pieces::default();
        let snowman = "☃".as_bytes();
        assert_eq!(pieces.push(&[b'a', snowman[0]]), "a");
        assert_eq!(pieces.push(&snowman[1..2]), "");
        assert_eq!(pieces.push(&[snowman[2], b'b']), "☃b");
        assert_eq!(pieces.push(&[0xff, b'c']), "\u{fffd}c");
        assert_eq!(pieces.push(&snowman[..2]), "");
        assert_eq!(pieces.finish(), "\u{fffd}");
    }

    #[test]
    fn a_chat_becomes_one_prompt_ending_with_the_assistant_turn() {
        let message = |role: &str, content: &str| ChatMessage {
            role: role.into(),
            content: content.into(),
        };
        let prompt = chat_prompt(&[message("system", "be brief"), message("user", "hi")]);
        assert_eq!(prompt, "system: be brief\nuser: hi\nassistant:");
    }
}

//! The OpenAI-compatible routes' vocabulary (`POST /v1/completions`, `POST
//! /v1/chat/completions`): the subset clients use. Fields this cluster cannot honour
//! (`n` above 1, `stop`, `top_p` below 1, `logprobs`, penalties, `tools`) are refused by
//! name rather than ignored; fields it does not know are ignored, as OpenAI's own
//! server does for fields of other versions.

use serde::{Deserialize, Serialize};

/// Tokens asked for when a body names none (as OpenAI's completions do).
pub const MAX_TOKENS_DEFAULT: u32 = 16;

/// The body of `POST /v1/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionBody {
    /// The prompt (one string).
    pub prompt: serde_json::Value,
    /// What both routes take.
    #[serde(flatten)]
    pub options: Options,
}

/// The body of `POST /v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatBody {
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// What both routes take.
    #[serde(flatten)]
    pub options: Options,
}

/// What both routes take besides the prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// A model this node's models directory holds, by name, or an artifact digest.
    pub model: String,
    /// Tokens to produce (`max_completion_tokens` is taken too).
    #[serde(default, alias = "max_completion_tokens", skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 to 10 (absent or 0: greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// The sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Answer with server-sent events, `data: [DONE]` last.
    #[serde(default)]
    pub stream: bool,
    /// Fields refused unless they ask for what is done anyway.
    #[serde(flatten)]
    pub unsupported: Unsupported,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Its text.
    pub content: String,
}

/// Fields a client may send that this cluster cannot honour, unless at the value that
/// asks for nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Unsupported {
    /// Choices per request (only 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequences (none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<serde_json::Value>,
    /// Nucleus sampling (only 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Log probabilities (none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<serde_json::Value>,
    /// Presence penalty (only 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty (only 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Tools (none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<serde_json::Value>,
}

impl Unsupported {
    /// The first field that asks for something not done, with what it may be.
    pub fn refused(&self) -> Option<(&'static str, &'static str)> {
        let asks = |value: &Option<serde_json::Value>| {
            value
                .as_ref()
                .is_some_and(|value| !value.is_null() && *value != serde_json::Value::Bool(false))
        };
        [
            (self.n.is_some_and(|n| n != 1), ("n", "1: one choice per request")),
            (asks(&self.stop), ("stop", "absent: stop sequences are not supported")),
            (
                self.top_p.is_some_and(|p| p != 1.0),
                ("top_p", "1: nucleus sampling is not supported"),
            ),
            (
                asks(&self.logprobs),
                ("logprobs", "absent: log probabilities are not reported"),
            ),
            (
                self.presence_penalty.is_some_and(|p| p != 0.0),
                ("presence_penalty", "0"),
            ),
            (
                self.frequency_penalty.is_some_and(|p| p != 0.0),
                ("frequency_penalty", "0"),
            ),
            (asks(&self.tools), ("tools", "absent: tools are not supported")),
        ]
        .into_iter()
        .find_map(|(refused, field)| refused.then_some(field))
    }
}

/// Token counts of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Tokens produced.
    pub completion_tokens: u32,
    /// Both.
    pub total_tokens: u32,
}

/// One choice of a completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionChoice {
    /// The text produced (or, streamed, produced since the last chunk).
    pub text: String,
    /// Always 0.
    pub index: u32,
    /// Always null.
    pub logprobs: Option<serde_json::Value>,
    /// `length` once ended (every request runs to its `max_tokens`); null before.
    pub finish_reason: Option<String>,
}

/// An answer of either route, or one chunk of a streamed one: `Completion` (object
/// `text_completion`) or `ChatCompletion` (`chat.completion`, chunks
/// `chat.completion.chunk`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer<C> {
    /// `cmpl-` (`chatcmpl-`) and the request id.
    pub id: String,
    /// What it is, as above.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model as the body named it.
    pub model: String,
    /// One choice.
    pub choices: Vec<C>,
    /// Counts (absent from chunks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// A completion or one of its chunks.
pub type Completion = Answer<CompletionChoice>;

/// A chat completion or one of its chunks.
pub type ChatCompletion = Answer<ChatChoice>;

/// One choice of a chat completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatChoice {
    /// Always 0.
    pub index: u32,
    /// The assistant's message (answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<ChatMessage>,
    /// What arrived since the last chunk (streamed chunks): `role` first, then
    /// `content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<ChatDelta>,
    /// `length` once ended; null before.
    pub finish_reason: Option<String>,
}

/// Part of a streamed assistant message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatDelta {
    /// `assistant`, in the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Text produced since the last chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// An error as OpenAI's clients read one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiError {
    /// What went wrong.
    pub error: OpenAiErrorDetail,
}

/// The error's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiErrorDetail {
    /// For a person.
    pub message: String,
    /// `invalid_request_error`, `not_found_error`, `service_unavailable` or
    /// `server_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The body field at fault, if one is.
    pub param: Option<String>,
    /// A stable name of the cause (the cluster's refusal, kebab-case).
    pub code: Option<String>,
}

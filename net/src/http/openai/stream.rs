//! Streamed answers: a `data:` event per batch of tokens in OpenAI's chunk shape, a
//! last chunk with the finish reason, then `data: [DONE]`. A rerouted request starts
//! again at token 0 on its next node; only tokens past those already sent go out (a
//! request's tokens are the same wherever it runs: greedy, or drawn from its seed).

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use psionic_core::RequestId;
use psionic_core::dispatch::RequestOutcome;
use tokio::sync::oneshot;

use super::Shape;
use super::text::Utf8Pieces;
use crate::api::openai::{ChatChoice, ChatCompletion, ChatDelta, Completion, CompletionChoice, Usage};
use crate::runtime::TokenBatches;

/// What every chunk of one answer repeats.
pub(super) struct Header {
    pub id: RequestId,
    pub shape: Shape,
    pub model: String,
    pub created: u64,
    pub prompt_tokens: u32,
    /// Turns the answer's tokens into text.
    pub tokenizer: psionic_model::tokenizer::Tokenizer,
}

impl Header {
    /// The answer's id.
    pub(super) fn id(&self) -> String {
        match self.shape {
            Shape::Text => format!("cmpl-{}", self.id),
            Shape::Chat => format!("chatcmpl-{}", self.id),
        }
    }

    /// Counts for `produced` tokens.
    pub(super) fn usage(&self, produced: usize) -> Usage {
        let completion_tokens = u32::try_from(produced).unwrap_or(u32::MAX);
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens,
            total_tokens: self.prompt_tokens.saturating_add(completion_tokens),
        }
    }

    /// A chunk carrying `text`; `finish` in the last.
    fn chunk(&self, text: String, first: bool, finish: Option<&str>) -> String {
        let finish_reason = finish.map(str::to_owned);
        let json = match self.shape {
            Shape::Text => serde_json::to_string(&Completion {
                id: self.id(),
                object: "text_completion".into(),
                created: self.created,
                model: self.model.clone(),
                choices: vec![CompletionChoice {
                    text,
                    index: 0,
                    logprobs: None,
                    finish_reason,
                }],
                usage: None,
            }),
            Shape::Chat => {
                let delta = ChatDelta {
                    role: first.then(|| "assistant".to_owned()),
                    content: (!text.is_empty() || !first).then_some(text),
                };
                serde_json::to_string(&ChatCompletion {
                    id: self.id(),
                    object: "chat.completion.chunk".into(),
                    created: self.created,
                    model: self.model.clone(),
                    choices: vec![ChatChoice {
                        index: 0,
                        message: None,
                        delta: Some(delta),
                        finish_reason,
                    }],
                    usage: None,
                })
            }
        };
        json.unwrap_or_default()
    }
}

/// Where the answer stands.
struct Flow {
    header: Header,
    outcome: oneshot::Receiver<RequestOutcome>,
    batches: TokenBatches,
    sent: usize,
    text: Utf8Pieces,
    first: bool,
}

enum Stage {
    Running(Flow),
    Finished,
    Done,
}

/// The events of a streamed answer.
pub(super) fn events(header: Header, outcome: oneshot::Receiver<RequestOutcome>, batches: TokenBatches) -> Response {
    let flow = Flow {
        header,
        outcome,
        batches,
        sent: 0,
        text: Utf8Pieces::default(),
        first: true,
    };
    let events = stream::unfold(Stage::Running(flow), next);
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

async fn next(stage: Stage) -> Option<(Result<Event, Infallible>, Stage)> {
    match stage {
        Stage::Running(mut flow) => {
            tokio::select! {
                biased;
                Some(batch) = flow.batches.recv() => {
                    let data = flow.take(batch.offset as usize, &batch.tokens);
                    Some((Ok(Event::default().data(data)), Stage::Running(flow)))
                }
                outcome = &mut flow.outcome => Some((Ok(Event::default().data(flow.end(outcome.ok()))), Stage::Finished)),
            }
        }
        Stage::Finished => Some((Ok(Event::default().data("[DONE]")), Stage::Done)),
        Stage::Done => None,
    }
}

impl Flow {
    /// The chunk of the tokens from `offset` past those sent already.
    fn take(&mut self, offset: usize, tokens: &[psionic_core::dispatch::Token]) -> String {
        let fresh = tokens.get(self.sent.saturating_sub(offset)..).unwrap_or_default();
        if offset <= self.sent {
            self.sent += fresh.len();
        }
        let text = match offset <= self.sent {
            true => self.text.push(&self.header.tokenizer.decode(fresh)),
            false => String::new(),
        };
        let chunk = self.header.chunk(text, self.first, None);
        self.first = false;
        chunk
    }

    /// The last chunk: the tokens the outcome holds past those sent, and why it ended
    /// (`length`; an error object when it ended without tokens).
    fn end(&mut self, outcome: Option<RequestOutcome>) -> String {
        match outcome {
            Some(RequestOutcome::Completed { tokens, .. }) => {
                let rest = tokens.get(self.sent..).unwrap_or_default();
                let mut text = self.text.push(&self.header.tokenizer.decode(rest));
                text.push_str(&self.text.finish());
                self.header.chunk(text, self.first, Some("length"))
            }
            Some(RequestOutcome::Refused { refusal }) => {
                let code = super::code_of(&refusal);
                let error = super::error_body("server_error", None, Some(&code), refusal.to_string());
                serde_json::to_string(&error).unwrap_or_default()
            }
            None => {
                let stopped = "the node stopped before the request ended".to_owned();
                let error = super::error_body("service_unavailable", None, Some("unknown"), stopped);
                serde_json::to_string(&error).unwrap_or_default()
            }
        }
    }
}

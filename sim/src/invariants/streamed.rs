//! Streamed tokens are the answer's: every batch a node is handed of a streaming
//! request equals, at its offset, the tokens the request completed with. (Simulated
//! executors produce the same tokens for the same model and prompt on every node, so
//! this holds across reroutes and resubmissions.)

use std::collections::BTreeMap;

use psionic_core::dispatch::RequestOutcome;
use psionic_core::{Event, RequestId, ServingEvent};

use crate::report::Violation;

/// A batch handed to a node.
#[derive(Debug)]
struct Batch {
    node: String,
    offset: u32,
    tokens: Vec<psionic_core::dispatch::Token>,
    at_ms: u64,
}

/// Batches waiting for their request's answer, and the answers seen.
#[derive(Debug, Default)]
pub struct StreamedTokens {
    waiting: BTreeMap<RequestId, Vec<Batch>>,
    answers: BTreeMap<RequestId, Vec<psionic_core::dispatch::Token>>,
}

impl StreamedTokens {
    pub(super) fn check(&mut self, node: &str, at_ms: u64, event: &Event, found: &mut Vec<Violation>) {
        match event {
            Event::Serving(ServingEvent::TokensProduced {
                request,
                offset,
                tokens,
                ..
            }) => {
                let batch = Batch {
                    node: node.to_owned(),
                    offset: *offset,
                    tokens: tokens.clone(),
                    at_ms,
                };
                self.on_batch(*request, batch, found);
            }
            Event::Serving(ServingEvent::RequestFinished {
                request,
                outcome: RequestOutcome::Completed { tokens, .. },
            }) => self.on_answer(*request, tokens, found),
            _ => {}
        }
    }

    fn on_batch(&mut self, request: RequestId, batch: Batch, found: &mut Vec<Violation>) {
        match self.answers.get(&request) {
            Some(answer) => check_batch(request, answer, &batch, found),
            None => self.waiting.entry(request).or_default().push(batch),
        }
    }

    fn on_answer(&mut self, request: RequestId, tokens: &[psionic_core::dispatch::Token], found: &mut Vec<Violation>) {
        for batch in self.waiting.remove(&request).unwrap_or_default() {
            check_batch(request, tokens, &batch, found);
        }
        self.answers.insert(request, tokens.to_vec());
    }

    /// Batches seen, checked or waiting.
    pub fn waiting(&self) -> usize {
        self.waiting.values().map(Vec::len).sum()
    }
}

fn check_batch(
    request: RequestId,
    answer: &[psionic_core::dispatch::Token],
    batch: &Batch,
    found: &mut Vec<Violation>,
) {
    let start = batch.offset as usize;
    let end = start.saturating_add(batch.tokens.len());
    if answer.get(start..end) != Some(&batch.tokens[..]) {
        found.push(Violation::StreamedTokensDiffer {
            request,
            node: batch.node.clone(),
            offset: batch.offset,
            at_ms: batch.at_ms,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(bytes: &[u8]) -> Vec<psionic_core::dispatch::Token> {
        bytes.iter().map(|byte| u32::from(*byte)).collect()
    }

    fn batch(offset: u32, bytes: &[u8]) -> Batch {
        Batch {
            node: "n1".to_owned(),
            offset,
            tokens: tokens(bytes),
            at_ms: 10,
        }
    }

    #[test]
    fn a_batch_that_is_not_the_answer_at_its_offset_is_caught_before_or_after_it() {
        let request = RequestId([5; 16]);
        let mut streamed = StreamedTokens::default();
        let mut found = Vec::new();
        streamed.on_batch(request, batch(0, b"he"), &mut found);
        streamed.on_batch(request, batch(2, b"XX"), &mut found);
        assert!(found.is_empty(), "held until the answer");
        assert_eq!(streamed.waiting(), 2);
        streamed.on_answer(request, &tokens(b"hello"), &mut found);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(matches!(found[0], Violation::StreamedTokensDiffer { offset: 2, .. }));
        found.clear();
        streamed.on_batch(request, batch(1, b"el"), &mut found);
        assert!(found.is_empty(), "checked at once, and right");
        streamed.on_batch(request, batch(4, b"o!"), &mut found);
        assert_eq!(found.len(), 1, "past the answer's end");
    }
}

//! Reading server-sent events: `event:` and `data:` lines, a blank line ending each.

use std::io::{BufRead, BufReader, Read};

use super::RequestStreamEvent;

/// The events of a streaming answer, in order, until the answer ends.
pub struct EventStream {
    lines: std::io::Lines<BufReader<Box<dyn Read + Send>>>,
    /// Whether `ended` came (after it, the end of the answer is the stream's end).
    ended: bool,
    /// Whether the stream is over (the cut was reported).
    over: bool,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

/// Why an event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The connection failed.
    #[error("the event stream broke: {0}")]
    Broken(#[from] std::io::Error),
    /// The answer ended before its `ended` event.
    #[error("the event stream ended before the request did")]
    Cut,
    /// An event's data is not one this client knows.
    #[error("an event this client cannot read ({message}): {data}")]
    Unreadable {
        /// Why.
        message: String,
        /// The event's data.
        data: String,
    },
}

impl EventStream {
    /// The events of `body`.
    pub fn new(body: impl Read + Send + 'static) -> Self {
        let body: Box<dyn Read + Send> = Box::new(body);
        Self {
            lines: BufReader::new(body).lines(),
            ended: false,
            over: false,
        }
    }
}

impl Iterator for EventStream {
    type Item = Result<RequestStreamEvent, EventError>;

    /// The next event with data (keep-alive comments and events without data are
    /// skipped); none once the answer ended after `ended`, [`EventError::Cut`] once
    /// when it ended before.
    fn next(&mut self) -> Option<Self::Item> {
        let mut data = String::new();
        loop {
            if self.over {
                return None;
            }
            let line = match self.lines.next() {
                Some(Ok(line)) => line,
                Some(Err(error)) => {
                    self.over = true;
                    return Some(Err(error.into()));
                }
                None if self.ended => return None,
                None => {
                    self.over = true;
                    return Some(Err(EventError::Cut));
                }
            };
            if line.is_empty() {
                if data.is_empty() {
                    continue;
                }
                let read: Result<RequestStreamEvent, _> =
                    serde_json::from_str(&data).map_err(|error| EventError::Unreadable {
                        message: error.to_string(),
                        data: data.clone(),
                    });
                self.ended |= matches!(read, Ok(RequestStreamEvent::Ended(_)));
                return Some(read);
            }
            if let Some(chunk) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(chunk.strip_prefix(' ').unwrap_or(chunk));
            }
        }
    }
}

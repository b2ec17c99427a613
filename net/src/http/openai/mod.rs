//! `POST /v1/completions` and `POST /v1/chat/completions`: OpenAI's request and answer
//! shapes over the same path as `POST /v1/requests` (placed by the leader, run on the
//! chosen node, its tokens streamed as they are produced). A model is named as this
//! node's models directory names it, or by artifact digest. A chat's messages become
//! one prompt: a `role: content` line each, then `assistant:`.

mod stream;
mod text;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use psionic_core::backend::Backend;
use psionic_core::dispatch::{InferenceRequest, RequestLane, RequestOutcome, RequestRefusal, SubmitRefusal};
use psionic_core::plan::RequestNeeds;
use psionic_core::{Digest, RequestId};
use psionic_model::tokenizer::Tokenizer;

use super::ApiState;
use crate::api::RequestBody;
use crate::api::openai::{
    ChatBody, ChatChoice, ChatCompletion, ChatMessage, Completion, CompletionBody, CompletionChoice,
    MAX_TOKENS_DEFAULT, OpenAiError, OpenAiErrorDetail, Options,
};
use crate::runtime::SubmitError;

/// Which of the two routes asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Text,
    Chat,
}

/// What either route asks for, once read.
struct Ask {
    shape: Shape,
    prompt: String,
    options: Options,
}

pub(super) async fn post_completion(State(api): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    let body: CompletionBody = match super::body::decode(body) {
        Ok(body) => body,
        Err(refusal) => return invalid(None, &refusal.to_string()),
    };
    let Some(prompt) = body.prompt.as_str() else {
        return invalid(
            Some("prompt"),
            "one string (lists of prompts or token ids are not supported)",
        );
    };
    let prompt = prompt.to_owned();
    serve(
        api,
        Ask {
            shape: Shape::Text,
            prompt,
            options: body.options,
        },
    )
    .await
}

pub(super) async fn post_chat(State(api): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    let body: ChatBody = match super::body::decode(body) {
        Ok(body) => body,
        Err(refusal) => return invalid(None, &refusal.to_string()),
    };
    if body.messages.is_empty() {
        return invalid(Some("messages"), "at least one message");
    }
    let prompt = text::chat_prompt(&body.messages);
    serve(
        api,
        Ask {
            shape: Shape::Chat,
            prompt,
            options: body.options,
        },
    )
    .await
}

async fn serve(api: ApiState, ask: Ask) -> Response {
    let Ask { shape, prompt, options } = ask;
    if let Some((field, expected)) = options.unsupported.refused() {
        return invalid(Some(field), expected);
    }
    let Some(artifact) = resolve(&api, &options.model) else {
        let message = format!(
            "no model {:?} here: name one this node's models directory holds, or a digest",
            options.model
        );
        return error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            Some("model"),
            Some("model-not-found"),
            message,
        );
    };
    let mut id = [0; 16];
    crate::entropy::fill(&mut id);
    let id = RequestId(id);
    let sampling_of = RequestBody {
        temperature: options.temperature,
        seed: options.seed,
        ..RequestBody::new("", "", 0)
    };
    let Some(sampling) = sampling_of.sampling(id) else {
        return invalid(Some("temperature"), "a number from 0 to 10");
    };
    let request = InferenceRequest {
        id,
        lane: RequestLane::WholeRequest,
        needs: RequestNeeds {
            artifact,
            backends: vec![Backend::Cuda, Backend::Cpu],
            device_memory_bytes: 0,
        },
        prompt: prompt.into_bytes(),
        max_tokens: options.max_tokens.unwrap_or(MAX_TOKENS_DEFAULT),
        class: 0,
        hint: None,
        stream: options.stream,
        sampling,
    };
    let tokenizer = api
        .models
        .as_ref()
        .and_then(|models| models.model(artifact).ok())
        .map_or(Tokenizer::ByteLevel, |model| model.tokenizer.clone());
    let header = stream::Header {
        id,
        shape,
        model: options.model,
        created: now_seconds(),
        // Counted only for a prompt the request may carry (encoding a longer one
        // would cost time before the refusal).
        prompt_tokens: match request.prompt.len() <= psionic_core::dispatch::PROMPT_BYTES_MAX {
            true => tokenizer.encode(&request.prompt).len() as u32,
            false => 0,
        },
        tokenizer,
    };
    if options.stream {
        return match api.client.submit_streaming_through_leader(request).await {
            Ok((_, outcome, batches)) => stream::events(header, outcome, batches),
            Err(error) => not_taken(error),
        };
    }
    let outcome = match api.client.submit_inference_through_leader(request).await {
        Ok((_, outcome)) => outcome.await.ok(),
        Err(error) => return not_taken(error),
    };
    match outcome {
        Some(RequestOutcome::Completed { tokens, .. }) => answer(&header, &tokens),
        Some(RequestOutcome::Refused { refusal }) => ended_without(&refusal),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            None,
            Some("unknown"),
            "the node stopped before the request ended".to_owned(),
        ),
    }
}

/// The artifact `model` names: a model of this node's directory by name, or a digest.
fn resolve(api: &ApiState, model: &str) -> Option<Digest> {
    let named = api.models.as_ref().and_then(|models| models.named(model));
    named.or_else(|| psionic_core::digest::from_hex::<32>(model).map(Digest))
}

fn answer(header: &stream::Header, tokens: &[psionic_core::dispatch::Token]) -> Response {
    let text = String::from_utf8_lossy(&header.tokenizer.decode(tokens)).into_owned();
    let usage = Some(header.usage(tokens.len()));
    let finish_reason = Some("length".to_owned());
    match header.shape {
        Shape::Text => {
            let choices = vec![CompletionChoice {
                text,
                index: 0,
                logprobs: None,
                finish_reason,
            }];
            Json(Completion {
                id: header.id(),
                object: "text_completion".into(),
                created: header.created,
                model: header.model.clone(),
                choices,
                usage,
            })
            .into_response()
        }
        Shape::Chat => {
            let message = Some(ChatMessage {
                role: "assistant".into(),
                content: text,
            });
            let choices = vec![ChatChoice {
                index: 0,
                message,
                delta: None,
                finish_reason,
            }];
            Json(ChatCompletion {
                id: header.id(),
                object: "chat.completion".into(),
                created: header.created,
                model: header.model.clone(),
                choices,
                usage,
            })
            .into_response()
        }
    }
}

fn not_taken(error_taken: SubmitError) -> Response {
    match error_taken {
        SubmitError::Refused(refusal) => {
            let status = match refusal {
                SubmitRefusal::Shape(_) | SubmitRefusal::NoBackend => StatusCode::BAD_REQUEST,
                SubmitRefusal::InFlight { .. } => StatusCode::CONFLICT,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            let kind = if status == StatusCode::BAD_REQUEST {
                "invalid_request_error"
            } else {
                "service_unavailable"
            };
            error(status, kind, None, Some(&code_of(&refusal)), refusal.to_string())
        }
        SubmitError::Stopped => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            None,
            Some("unknown"),
            "the node stopped before answering".to_owned(),
        ),
    }
}

/// A request that ended without tokens: the refusal, as a server error.
fn ended_without(refusal: &RequestRefusal) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        None,
        Some(&code_of(refusal)),
        refusal.to_string(),
    )
}

/// The kebab-case name serde gives a refusal's variant.
fn code_of(refusal: &impl serde::Serialize) -> String {
    match serde_json::to_value(refusal) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(serde_json::Value::Object(fields)) => fields.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

fn invalid(param: Option<&str>, expected: &str) -> Response {
    let message = match param {
        Some(field) => format!("{field}: expected {expected}"),
        None => expected.to_owned(),
    };
    error(StatusCode::BAD_REQUEST, "invalid_request_error", param, None, message)
}

fn error(status: StatusCode, kind: &str, param: Option<&str>, code: Option<&str>, message: String) -> Response {
    (status, Json(error_body(kind, param, code, message))).into_response()
}

/// An error in OpenAI's shape.
fn error_body(kind: &str, param: Option<&str>, code: Option<&str>, message: String) -> OpenAiError {
    let detail = OpenAiErrorDetail {
        message,
        kind: kind.to_owned(),
        param: param.map(str::to_owned),
        code: code.map(str::to_owned),
    };
    OpenAiError { error: detail }
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

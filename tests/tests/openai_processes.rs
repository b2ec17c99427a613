//! The OpenAI-compatible routes on a real node serving the test model, with the bodies
//! OpenAI's clients send.
//!
//! proves: D2
#![cfg(not(madsim))]

use psionic_net::api::openai::{ChatCompletion, Completion, OpenAiError};
use psionic_net::api::{self, Method};
use psionic_tests::models::{greedy_text, model_node};
use serde_json::json;

fn post(node: &psionic_tests::NodeProcess, path: &str, body: serde_json::Value) -> (u16, String) {
    let client = node.client();
    client
        .exchange(Method::POST, path, Some(body.to_string().as_bytes()))
        .expect("the API answers")
}

/// The `data:` payloads of a server-sent event stream.
fn data_lines(text: &str) -> Vec<&str> {
    text.lines().filter_map(|line| line.strip_prefix("data: ")).collect()
}

#[test]
fn completions_and_chat_completions_serve_the_model_by_name_and_stream_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, node, digest) = model_node(dir.path(), 5);
    let model_dir = dir.path().join("models").join("test");

    let (code, text) = post(
        &node,
        api::COMPLETIONS,
        json!({"model": "test", "prompt": "hello", "max_tokens": 12, "temperature": 0, "n": 1, "top_p": 1, "user": "someone"}),
    );
    assert_eq!(code, 200, "{text}");
    let completion: Completion = serde_json::from_str(&text).unwrap();
    let expected = greedy_text(&model_dir, b"hello", 12);
    assert_eq!(completion.choices[0].text, expected);
    assert_eq!(completion.choices[0].finish_reason.as_deref(), Some("length"));
    assert_eq!(completion.object, "text_completion");
    let usage = completion.usage.unwrap();
    assert_eq!(
        (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens),
        (5, 12, 17)
    );

    // The same by digest, streamed: the chunks' text joins into the same completion.
    let (code, text) = post(
        &node,
        api::COMPLETIONS,
        json!({"model": digest.to_hex(), "prompt": "hello", "max_tokens": 12, "stream": true}),
    );
    assert_eq!(code, 200, "{text}");
    let data = data_lines(&text);
    assert_eq!(data.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<Completion> = data[..data.len() - 1]
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let joined: String = chunks.iter().map(|chunk| chunk.choices[0].text.as_str()).collect();
    assert_eq!(joined, completion.choices[0].text);
    assert_eq!(
        chunks.last().unwrap().choices[0].finish_reason.as_deref(),
        Some("length")
    );

    let conversation = json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]);
    let (code, text) = post(
        &node,
        api::CHAT_COMPLETIONS,
        json!({"model": "test", "messages": conversation, "max_completion_tokens": 8}),
    );
    assert_eq!(code, 200, "{text}");
    let chat: ChatCompletion = serde_json::from_str(&text).unwrap();
    let expected = greedy_text(&model_dir, b"system: be brief\nuser: hi\nassistant:", 8);
    let message = chat.choices[0].message.as_ref().unwrap();
    assert_eq!(
        (message.role.as_str(), message.content.clone()),
        ("assistant", expected)
    );
    let (code, text) = post(
        &node,
        api::CHAT_COMPLETIONS,
        json!({"model": "test", "messages": conversation, "max_tokens": 8, "stream": true}),
    );
    assert_eq!(code, 200, "{text}");
    let data = data_lines(&text);
    let chunks: Vec<ChatCompletion> = data[..data.len() - 1]
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        chunks[0].choices[0].delta.as_ref().unwrap().role.as_deref(),
        Some("assistant")
    );
    let joined: String = chunks
        .iter()
        .filter_map(|chunk| chunk.choices[0].delta.as_ref()?.content.clone())
        .collect();
    assert_eq!(joined, message.content);
    assert!(chunks.iter().all(|chunk| chunk.object == "chat.completion.chunk"));
}

#[test]
fn what_the_cluster_cannot_honour_is_refused_by_name_in_openais_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (_, node, _) = model_node(dir.path(), 6);
    let refused = |body: serde_json::Value| {
        let (code, text) = post(&node, api::COMPLETIONS, body);
        let error: OpenAiError = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{code} {text}"));
        (code, error.error)
    };
    let (code, error) = refused(json!({"model": "test", "prompt": "x", "n": 2}));
    assert_eq!(
        (code, error.param.as_deref(), error.kind.as_str()),
        (400, Some("n"), "invalid_request_error")
    );
    let (code, error) = refused(json!({"model": "test", "prompt": "x", "stop": ["\n"]}));
    assert_eq!((code, error.param.as_deref()), (400, Some("stop")));
    let (code, error) = refused(json!({"model": "test", "prompt": ["a", "b"]}));
    assert_eq!((code, error.param.as_deref()), (400, Some("prompt")));
    let (code, error) = refused(json!({"model": "absent", "prompt": "x"}));
    assert_eq!((code, error.code.as_deref()), (404, Some("model-not-found")));
    let (code, error) = refused(json!({"model": "test", "prompt": "x", "max_tokens": 2_000}));
    assert_eq!(code, 500, "run, and refused by the model: {error:?}");
    assert!(error.message.contains("positions"), "{error:?}");
    // Without the token: refused before anything runs.
    let anonymous = psionic_net::api::Client::new(node.listening.operator_addr);
    let (code, _) = anonymous.exchange(Method::POST, api::COMPLETIONS, Some(b"{}")).unwrap();
    assert_eq!(code, 401);
}

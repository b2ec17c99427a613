//! `demo --models DIR`: every demo node runs the models in DIR; once each reports the
//! first of them resident, one request is served through the operator API.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use psionic_core::Digest;
use psionic_core::dispatch::RequestOutcome;
use psionic_core::state::Residency;
use psionic_net::RunningNode;
use psionic_net::api::{Client, RequestAnswer, RequestBody, RequestStatus};
use psionic_net::artifacts::{ArtifactSource, Models, Scanner};
use psionic_net::execute::{Executor, ModelExecutor};

use crate::cli::{Failed, Failure};

/// How long the demo waits for every node to report the model resident.
const RESIDENT_WAIT: Duration = Duration::from_secs(30);
/// The prompt of the demo's request.
pub const DEMO_PROMPT: &str = "hello cluster";
/// Tokens it asks for.
const DEMO_TOKENS: u32 = 16;

/// The first model `dir` holds that can run.
pub fn first_model(dir: &Path) -> Result<Digest, Failed> {
    let found = Scanner::new(dir.to_path_buf()).scan();
    let runnable = found
        .values()
        .find(|artifact| artifact.residency == Residency::Resident);
    let none = || {
        format!(
            "{}: no model that runs (try `psionic-node model make-test --out {}/test`)",
            dir.display(),
            dir.display()
        )
    };
    runnable
        .map(|artifact| artifact.digest)
        .ok_or_else(|| (Failure::Config, none()))
}

/// A node's executor and models source for `dir`.
pub fn executor_of(dir: &Path) -> (Arc<dyn Executor>, ArtifactSource) {
    let models = Arc::new(Models::default());
    let source = ArtifactSource {
        dir: dir.to_path_buf(),
        scan_interval_ms: 1_000,
        models: Arc::clone(&models),
    };
    (Arc::new(ModelExecutor::new(models)), source)
}

/// Waits until every node's state shows each node holding `model`.
pub async fn await_resident(nodes: &[RunningNode], model: Digest) -> Result<(), Failed> {
    let deadline = tokio::time::Instant::now() + RESIDENT_WAIT;
    loop {
        let everywhere = nodes.iter().all(|node| {
            let state = node.state.borrow();
            nodes.iter().all(|holder| {
                state.members.iter().any(|member| {
                    member.node_id == holder.node_id && member.artifacts.get(&model) == Some(&Residency::Resident)
                })
            })
        });
        if everywhere {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err((
                Failure::Network,
                format!("model {model} not resident everywhere within {RESIDENT_WAIT:?}"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Serves one request for `model` through the operator API at `api` and prints it,
/// with the command that serves another.
pub async fn serve_once(api: SocketAddr, token: String, token_path: &Path, model: Digest) -> Result<(), Failed> {
    let body = RequestBody {
        wait: true,
        backends: vec![psionic_core::backend::Backend::Cpu],
        ..RequestBody::new(&model.to_hex(), DEMO_PROMPT, DEMO_TOKENS)
    };
    let answer = tokio::task::spawn_blocking(move || Client::new(api).with_bearer(&token).submit(&body))
        .await
        .map_err(|error| (Failure::Network, error.to_string()))?
        .map_err(|error| (Failure::Network, error.to_string()))?;
    let completed = match &answer.reply {
        psionic_net::api::Reply::Answer(RequestAnswer::Request(view)) => match &view.record.status {
            RequestStatus::Ended {
                outcome: RequestOutcome::Completed { node, tokens, .. },
            } => Some((*node, tokens.clone())),
            _ => None,
        },
        _ => None,
    };
    let Some((node, tokens)) = completed else {
        return Err((
            Failure::Refused,
            format!("the demo request was not served: {} {:?}", answer.status, answer.reply),
        ));
    };
    println!(
        "served    {model} on {node}: {DEMO_PROMPT:?} -> {:?}",
        String::from_utf8_lossy(&tokens.iter().map(|token| *token as u8).collect::<Vec<u8>>())
    );
    println!(
        "serve     curl -s -H \"Authorization: Bearer $(cat {})\" -H 'Content-Type: application/json' http://{api}/v1/requests -d '{{\"model\":\"{model}\",\"backends\":[\"cpu\"],\"prompt\":\"hello\",\"max_tokens\":16,\"wait\":true}}'",
        token_path.display()
    );
    Ok(())
}

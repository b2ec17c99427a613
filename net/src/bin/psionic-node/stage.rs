//! `stage`: asks a running node's cluster to copy an artifact to a node, then follows
//! the copy in `/v1/members` with a progress bar until it is resident or failed.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use psionic_core::state::Residency;
use psionic_core::{Digest, NodeId};
use psionic_net::api::{Answer, CommandAnswer, MembersAnswer, Reply, StageAnswer, StageBody};
use psionic_net::runtime::Consistency;

use crate::cli::{Failed, Failure, Operator};

const POLL_EVERY: Duration = Duration::from_millis(200);
const BAR_WIDTH: usize = 30;

/// `stage`: commits the intent, then waits up to `wait_s` for the copy to end.
pub fn stage(operator: &Operator, token_file: &Path, artifact: &str, node: &str, wait_s: u64) -> Result<(), Failed> {
    let artifact = psionic_core::digest::from_hex::<32>(artifact).map(Digest).ok_or((
        Failure::Usage,
        "--artifact: an artifact digest, 64 hex digits".to_owned(),
    ))?;
    let node_id = psionic_core::digest::from_hex::<16>(node)
        .map(NodeId)
        .ok_or((Failure::Usage, "--node: a node id, 32 hex digits".to_owned()))?;
    let client = crate::client::client(operator, Some(token_file))?;
    let body = StageBody { node: node.to_owned() };
    let answer = client.stage(&artifact, &body).map_err(crate::client::network)?;
    match answer {
        Answer {
            status: 200,
            reply: Reply::Answer(StageAnswer::Command(CommandAnswer::Committed { index, .. })),
        } => println!("staging {artifact} on {node_id} (committed at index {index})"),
        Answer { status, reply } => {
            let body = serde_json::to_string(&reply).unwrap_or_default();
            return Err((Failure::Refused, format!("the node answered {status}: {body}")));
        }
    }
    follow(operator, artifact, node_id, Duration::from_secs(wait_s))
}

/// Polls the members until `node` shows `artifact` resident (or failed, or evicted).
fn follow(operator: &Operator, artifact: Digest, node: NodeId, wait: Duration) -> Result<(), Failed> {
    let client = crate::client::client(operator, None)?;
    let path = psionic_net::api::with_consistency(psionic_net::api::MEMBERS, Consistency::Serializable);
    let deadline = Instant::now() + wait;
    let mut shown = None;
    while Instant::now() < deadline {
        let (_, body) = client
            .exchange(psionic_net::api::Method::GET, &path, None)
            .map_err(crate::client::network)?;
        let residency = match Reply::<MembersAnswer>::decode(&body) {
            Ok(Reply::Answer(MembersAnswer::Members(members))) => members
                .iter()
                .find(|member| member.node_id == node)
                .and_then(|member| member.artifacts.get(&artifact).copied()),
            _ => None,
        };
        match residency {
            Some(Residency::Resident) => {
                eprintln!();
                println!("{artifact} is resident on {node}");
                return Ok(());
            }
            Some(ended @ (Residency::Failed | Residency::Evicted | Residency::Absent)) => {
                eprintln!();
                let word = format!("{ended:?}").to_lowercase();
                return Err((
                    Failure::Refused,
                    format!("the copy of {artifact} on {node} ended {word}"),
                ));
            }
            Some(Residency::Staging {
                bytes_done,
                bytes_total,
            }) if shown != Some(bytes_done) => {
                shown = Some(bytes_done);
                eprint!("\r{}", bar(bytes_done, bytes_total));
                let _ = std::io::stderr().flush();
            }
            _ => {}
        }
        std::thread::sleep(POLL_EVERY);
    }
    eprintln!();
    Err((
        Failure::Network,
        format!("the copy of {artifact} on {node} did not end within {wait:?}"),
    ))
}

/// `[#####-----]  41%  1.2 MB of 3.0 MB`.
fn bar(bytes_done: u64, bytes_total: u64) -> String {
    let per_mille = Residency::Staging {
        bytes_done,
        bytes_total,
    }
    .progress_per_mille()
    .unwrap_or(0) as usize;
    let filled = per_mille * BAR_WIDTH / 1000;
    let megabytes = |bytes: u64| bytes as f64 / 1e6;
    format!(
        "[{}{}] {:>3}%  {:.1} MB of {:.1} MB",
        "#".repeat(filled),
        "-".repeat(BAR_WIDTH - filled),
        per_mille / 10,
        megabytes(bytes_done),
        megabytes(bytes_total)
    )
}

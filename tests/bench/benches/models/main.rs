//! M1 and M2: the test model served by a real `psionic-node` process, against the same
//! model run directly by `psionic_model::Session` in this process, in the same run.
//!
//! - M1: tokens per second of 32-token requests through the operator API (placement,
//!   fenced dispatch to the executor host, evidence, HTTP) / the same requests'
//!   tokens per second run directly. Target ≥ 0.8.
//! - M2: the time a request spends outside the model: (through the cluster − direct)
//!   / through the cluster, per 32-token request. Target ≤ 0.05.
//!
//! Each side runs `REQUESTS` requests, twice, alternating; receipts go to
//! `PSIONIC_RECEIPTS_DIR` (default `target/receipts`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use psionic_core::backend::Backend;
use psionic_core::receipt::{BenchmarkReceipt, Measured, Target, Unit};
use psionic_net::api::{RequestAnswer, RequestBody, RequestStatus};
use psionic_net::receipt::RunFacts;
use psionic_tests::models::model_node;

/// Tokens each request asks for.
const TOKENS: u32 = 32;
/// Requests per run of one side.
const REQUESTS: usize = 40;
const PROMPT: &str = "hello cluster";

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, node, digest) = model_node(dir.path(), 1);
    let model_dir = dir.path().join("models").join("test");
    let model = Arc::new(psionic_model::Model::load(&model_dir).expect("the test model loads"));
    let client = node.client();
    let body = |n: usize| RequestBody {
        id: Some(format!("{n:032x}")),
        backends: vec![Backend::Cpu],
        wait: true,
        ..RequestBody::new(&digest.to_hex(), PROMPT, TOKENS)
    };
    let mut next_id = 1;
    let mut through = |count: usize| {
        let started = Instant::now();
        for _ in 0..count {
            let answer = client.submit(&body(next_id)).expect("the node answers");
            next_id += 1;
            let served = matches!(&answer.reply, psionic_net::api::Reply::Answer(RequestAnswer::Request(view))
                if matches!(view.record.status, RequestStatus::Ended { .. }));
            assert!(served, "{} {:?}", answer.status, answer.reply);
        }
        started.elapsed()
    };
    let direct = |count: usize| {
        let started = Instant::now();
        for _ in 0..count {
            run_directly(&model, PROMPT.as_bytes(), TOKENS as usize);
        }
        started.elapsed()
    };
    through(4);
    direct(4);
    let (mut cluster, mut alone) = (Duration::ZERO, Duration::ZERO);
    for round in 0..2 {
        if round == 0 {
            cluster += through(REQUESTS);
            alone += direct(REQUESTS);
        } else {
            alone += direct(REQUESTS);
            cluster += through(REQUESTS);
        }
    }
    let requests = (2 * REQUESTS) as f64;
    let tokens = requests * f64::from(TOKENS);
    let (cluster_s, alone_s) = (cluster.as_secs_f64(), alone.as_secs_f64());
    let facts = RunFacts::detect();
    let m1 = BenchmarkReceipt::new(
        "M1",
        (
            measured(
                "32-token requests to the test model through a node's operator API (placed, dispatched under a fence, run, signed)",
                tokens / cluster_s,
                Unit::TokensPerSecond,
            ),
            measured(
                "the same requests run by psionic_model::Session in-process",
                tokens / alone_s,
                Unit::TokensPerSecond,
            ),
        ),
        (
            (tokens / cluster_s) / (tokens / alone_s),
            "tokens/s through the cluster / tokens/s run directly",
        ),
        Target::AtLeast(0.8),
        facts.as_pair(),
    );
    let per_request = |total: f64| total / requests * 1e9;
    let m2 = BenchmarkReceipt::new(
        "M2",
        (
            measured(
                "time per 32-token request outside the model (through the cluster − direct)",
                per_request(cluster_s - alone_s),
                Unit::NanosPerIteration,
            ),
            measured(
                "time per 32-token request through the cluster",
                per_request(cluster_s),
                Unit::NanosPerIteration,
            ),
        ),
        (
            (cluster_s - alone_s) / cluster_s,
            "time outside the model / time through the cluster",
        ),
        Target::AtMost(0.05),
        facts.as_pair(),
    );
    println!(
        "\n{:<4} {:>14} {:>14} {:>8} {:>8}",
        "row", "ours", "peer", "ratio", "pass"
    );
    for receipt in [&m1, &m2] {
        println!(
            "{:<4} {:>14.1} {:>14.1} {:>8.3} {:>8}",
            receipt.benchmark,
            receipt.ours.value,
            receipt.peer.value,
            receipt.ratio,
            format!("{:?}", receipt.pass)
        );
    }
    let receipts_dir = psionic_tests::receipts_dir();
    for receipt in [&m1, &m2] {
        psionic_net::receipt::write(&receipts_dir, receipt).expect("receipts written");
    }
    println!("\n2 receipts in {}", receipts_dir.display());
}

/// The prompt and `count` greedy tokens through a fresh session.
fn run_directly(model: &Arc<psionic_model::Model>, prompt: &[u8], count: usize) -> Vec<u32> {
    let mut session = psionic_model::Session::new(Arc::clone(model), prompt.len() + count).expect("fits");
    let prompt: Vec<u32> = prompt.iter().map(|byte| u32::from(*byte)).collect();
    let mut logits = session.forward(&prompt).expect("the prompt runs");
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        let token = psionic_model::sampling::greedy(&logits);
        tokens.push(token);
        logits = session.forward(&[token]).expect("the token runs");
    }
    tokens
}

fn measured(what: &str, value: f64, unit: Unit) -> Measured {
    Measured {
        what: what.to_owned(),
        value,
        unit,
    }
}

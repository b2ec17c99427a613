//! `status`, `members`, `candidates` and `submit`: HTTP/1.1 requests (over TLS with
//! `--tls-ca`) to a running node's operator API.

use std::io::Read as _;
use std::path::Path;

use serde_json::Value;

use crate::cli::{Failed, Failure, Operator};
use crate::transport::exchange;

pub fn status(operator: &Operator) -> Result<(), Failed> {
    let status = get_json(operator, "/v1/status")?;
    if operator.json {
        println!("{status}");
        return Ok(());
    }
    let text = |key: &str| {
        status[key]
            .as_str()
            .map_or_else(|| status[key].to_string(), str::to_owned)
    };
    println!("node      {} (epoch {})", text("node_id"), status["epoch"]);
    println!("role      {} in term {}", text("consensus_role"), status["term"]);
    println!("leader    {}", text("leader"));
    println!(
        "indexes   commit {}, applied {}, last {}",
        status["commit_index"], status["applied_index"], status["last_index"]
    );
    print_admission(&status["admission"]);
    print_key(&status["key"]);
    println!("trust     {}", text("trust"));
    for peer in status["peers"].as_array().into_iter().flatten() {
        let trust = if peer["trust"] == status["trust"] {
            ""
        } else {
            " (another trust bundle)"
        };
        println!(
            "peer      {} {} {}{trust}",
            peer["node_id"].as_str().unwrap_or("?"),
            peer["addr"].as_str().unwrap_or("?"),
            peer["health"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

/// The node's key, the one a rotation staged, and whether the log moved it to a key
/// it does not hold.
fn print_key(key: &Value) {
    let word = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    println!("key       {}", word(&key["current"]));
    if !key["staged"].is_null() {
        println!("key next  {}", word(&key["staged"]));
    }
    if !key["superseded_by"].is_null() {
        let by = word(&key["superseded_by"]);
        println!(
            "key lost  the log moved this node to {by}, which it does not hold: give it back its identity file, or remove the node"
        );
    }
}

/// The admission tokens a trusted-LAN node holds, by their public digests.
fn print_admission(admission: &Value) {
    let Some(held) = admission["held"].as_array() else {
        return;
    };
    let digest = |value: &Value| value.as_str().unwrap_or("?").to_owned();
    println!(
        "admission token {}",
        held.first().map_or_else(|| "?".to_owned(), digest)
    );
    if let Some(next) = held.get(1) {
        println!("admission next  {}", digest(next));
    }
    let committed = admission["committed"].as_str().unwrap_or("none");
    let stale = if admission["stale"] == true {
        " (stale: not held here)"
    } else {
        ""
    };
    println!("admission committed {committed}{stale}");
}

pub fn members(operator: &Operator, consistency: crate::cli::ReadConsistency) -> Result<(), Failed> {
    let path = format!("/v1/members?consistency={}", consistency.name());
    let members = get_json(operator, &path)?;
    if operator.json {
        println!("{members}");
        return Ok(());
    }
    println!(
        "{:<34} {:<12} {:<9} {:<6} {:<7} {:<16} health",
        "node", "role", "status", "voter", "leader", "cuda"
    );
    for member in members.as_array().into_iter().flatten() {
        let word = |key: &str| member[key].as_str().unwrap_or("-").to_owned();
        let health = if member["this_node"] == true {
            "this node".to_owned()
        } else {
            word("health")
        };
        println!(
            "{:<34} {:<12} {:<9} {:<6} {:<7} {:<16} {health}",
            word("node_id"),
            word("role"),
            word("status"),
            member["voter"],
            member["leader"],
            cuda_word(&member["backends"]["cuda"]),
        );
    }
    Ok(())
}

/// `8 gpus`, the refusal's name (`no-driver`), or `-` when nothing is recorded.
fn cuda_word(readiness: &serde_json::Value) -> String {
    if let Some(devices) = readiness["ready"]["devices"].as_array() {
        return format!("{} gpus", devices.len());
    }
    let reason = &readiness["refused"]["reason"];
    let named = reason.as_str().map(str::to_owned);
    let keyed = || reason.as_object()?.keys().next().cloned();
    named.or_else(keyed).unwrap_or_else(|| "-".to_owned())
}

pub fn candidates(operator: &Operator) -> Result<(), Failed> {
    let candidates = get_json(operator, "/v1/candidates")?;
    if operator.json {
        println!("{candidates}");
        return Ok(());
    }
    println!(
        "{:<34} {:<12} {:<22} {:<11} {:<34} {:>10} admission",
        "node", "role", "address", "state", "introduced by", "age_ms"
    );
    for candidate in candidates.as_array().into_iter().flatten() {
        let word = |key: &str| candidate[key].as_str().unwrap_or("-").to_owned();
        let introducer = &candidate["introduced_by"];
        let introduced_by = introducer.as_str().map(str::to_owned);
        let by_peer = || introducer["peer"].as_str().map(|peer| format!("peer {peer}"));
        println!(
            "{:<34} {:<12} {:<22} {:<11} {:<34} {:>10} {}",
            word("node_id"),
            word("role"),
            word("addr"),
            word("state"),
            introduced_by.or_else(by_peer).unwrap_or_else(|| "-".to_owned()),
            candidate["introduced_ms_ago"].as_u64().unwrap_or(0),
            admission_word(&candidate["admission"])
        );
    }
    Ok(())
}

/// `automatic`, `operator`, `removed`, `not-attested` with the binary measured, or
/// `trust-mismatch` with both trust bundle digests.
fn admission_word(admission: &Value) -> String {
    if let Some(word) = admission.as_str() {
        return word.to_owned();
    }
    let refusal = &admission["not-attested"]["refusal"];
    let digest = |value: &Value| value.as_str().unwrap_or("none").to_owned();
    if let Some(why) = refusal.as_str() {
        format!("not-attested ({why})")
    } else if let Some(mismatch) = refusal.get("trust-mismatch") {
        let (ours, theirs) = (digest(&mismatch["ours"]), digest(&mismatch["theirs"]));
        format!("trust-mismatch ours {ours} theirs {theirs}")
    } else {
        format!("not-attested {}", digest(&refusal["not-allowed"]["measured"]))
    }
}

fn read_token(token_file: &Path) -> Result<String, Failed> {
    std::fs::read_to_string(token_file).map_err(|error| {
        (
            Failure::Config,
            format!("{}: cannot read operator token: {error}", token_file.display()),
        )
    })
}

pub fn submit(operator: &Operator, token_file: &Path, command: &str) -> Result<(), Failed> {
    let token = read_token(token_file)?;
    let command = if command == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| (Failure::Usage, format!("cannot read the command from stdin: {error}")))?;
        text
    } else {
        command.to_owned()
    };
    let body: Value = serde_json::from_str(&command)
        .map_err(|error| (Failure::Usage, format!("the command is not JSON: {error}")))?;
    let (code, answer) = exchange(
        operator,
        "POST",
        "/v1/commands",
        Some(token.trim()),
        Some(&body.to_string()),
    )?;
    let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::String(answer));
    if operator.json || code != 200 {
        println!("{answer}");
    } else {
        println!(
            "committed at index {} (proposal {})",
            answer["index"], answer["proposal"]
        );
    }
    if code == 200 {
        Ok(())
    } else {
        Err((Failure::Refused, format!("the node answered {code}: {answer}")))
    }
}

/// `rotate-key`: the node stages a new key; prints the command that rotates it.
pub fn rotate_key(operator: &Operator, token_file: &Path) -> Result<(), Failed> {
    let token = read_token(token_file)?;
    let (code, answer) = exchange(operator, "POST", "/v1/node/key-rotation", Some(token.trim()), None)?;
    if code != 200 {
        return Err((Failure::Refused, format!("the node answered {code}: {answer}")));
    }
    println!("{}", answer.trim());
    Ok(())
}

/// `trust show`: the trust anchors of the node's signed capabilities.
pub fn trust_show(operator: &Operator) -> Result<(), Failed> {
    let document = get_json(operator, "/v1/capabilities")?;
    let capabilities = &document["capabilities"];
    if operator.json {
        println!(
            "{}",
            serde_json::json!({ "trust": capabilities["trust"], "trust_digest": capabilities["trust_digest"] })
        );
        return Ok(());
    }
    let trust = &capabilities["trust"];
    let word = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    println!("node          {}", word(&capabilities["node_id"]));
    let bundle = &trust["bundle"];
    println!("posture       {}", word(&bundle["posture"]));
    for node in bundle["pinned_nodes"].as_array().into_iter().flatten() {
        println!("pinned node   {}", word(node));
    }
    for binary in bundle["allowed_binaries"].as_array().into_iter().flatten() {
        println!("binary        {}", word(binary));
    }
    println!("trust digest  {}", word(&capabilities["trust_digest"]));
    println!("authorization {}", word(&trust["authorization_policy"]));
    println!("admission     {}", word(&trust["admission_token"]));
    Ok(())
}

fn get_json(operator: &Operator, path: &str) -> Result<Value, Failed> {
    let token = operator.read_token_file.as_deref().map(read_token).transpose()?;
    let (code, body) = exchange(operator, "GET", path, token.as_deref().map(str::trim), None)?;
    if code != 200 {
        return Err((Failure::Refused, format!("{path}: the node answered {code}: {body}")));
    }
    serde_json::from_str(&body).map_err(|error| (Failure::Network, format!("{path}: not JSON ({error}): {body}")))
}

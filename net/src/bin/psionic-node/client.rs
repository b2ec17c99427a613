//! `status`, `members`, `candidates`, `submit`, `rotate-key` and `trust show`: typed
//! requests (over TLS with `--tls-ca`) to a running node's operator API.

use std::io::Read as _;
use std::path::Path;

use psionic_core::backend::{Backend, BackendReadiness};
use psionic_core::discovery::Introducer;
use psionic_core::status::{CandidateAdmission, KeyStatus};
use psionic_core::{CandidateStatus, ClusterCommand};
use psionic_net::api::{
    Answer, CapabilitiesAnswer, Client, ClientError, CommandAnswer, KeyRotationAnswer, MemberView, MembersAnswer, Reply,
};
use psionic_net::runtime::Consistency;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cli::{Failed, Failure, Operator, ReadConsistency};

/// The client of `operator`'s node, bearing the token of `token_file` (else its read
/// token, if any).
pub fn client(operator: &Operator, token_file: Option<&Path>) -> Result<Client, Failed> {
    let client = match &operator.tls_ca {
        None => Client::new(operator.operator),
        Some(ca_file) => {
            let pem = std::fs::read(ca_file)
                .map_err(|error| (Failure::Config, format!("{}: cannot read: {error}", ca_file.display())))?;
            Client::with_ca(operator.operator, &pem)
                .map_err(|error| (Failure::Config, format!("{}: {error}", ca_file.display())))?
        }
    };
    match token_file.or(operator.read_token_file.as_deref()) {
        Some(token_file) => Ok(client.with_bearer(&read_token(token_file)?)),
        None => Ok(client),
    }
}

/// How `value` reads in the API's JSON: a string's text, or the name of an enum's
/// variant.
fn word<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(text)) => text,
        Ok(Value::Object(map)) => map.keys().next().cloned().unwrap_or_default(),
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

pub fn network(error: ClientError) -> Failed {
    match error {
        ClientError::BadCa { .. } => (Failure::Config, error.to_string()),
        ClientError::Unreachable { .. } | ClientError::Unreadable { .. } => (Failure::Network, error.to_string()),
    }
}

/// The route's answer on 200; a refusal with the body otherwise. `--json` prints the
/// body as it came.
fn fetch<T: DeserializeOwned>(operator: &Operator, path: &str) -> Result<Option<T>, Failed> {
    let client = client(operator, None)?;
    let (status, body) = client
        .exchange(psionic_net::api::Method::GET, path, None)
        .map_err(network)?;
    if status != 200 {
        return Err((Failure::Refused, format!("{path}: the node answered {status}: {body}")));
    }
    if operator.json {
        println!("{}", body.trim());
        return Ok(None);
    }
    match Reply::<T>::decode(&body) {
        Ok(Reply::Answer(answer)) => Ok(Some(answer)),
        Ok(Reply::Failure(_)) | Err(_) => Err((Failure::Network, format!("{path}: unreadable answer: {body}"))),
    }
}

pub fn status(operator: &Operator) -> Result<(), Failed> {
    let Some(report) = fetch::<psionic_net::api::StatusReport>(operator, psionic_net::api::STATUS)? else {
        return Ok(());
    };
    let status = report.status;
    let leader = status.leader.map_or_else(|| "null".to_owned(), |id| id.to_string());
    let trust = status
        .trust
        .map_or_else(|| "null".to_owned(), |digest| digest.to_string());
    println!("node      {} (epoch {})", status.node_id, status.epoch.0);
    println!("role      {} in term {}", word(&status.consensus_role), status.term);
    println!("leader    {leader}");
    println!(
        "indexes   commit {}, applied {}, last {}",
        status.commit_index, status.applied_index, status.last_index
    );
    if let Some(admission) = &status.admission {
        print_admission(admission);
    }
    print_key(&status.key);
    println!("trust     {trust}");
    for peer in &status.peers {
        let other = if peer.trust == status.trust {
            ""
        } else {
            " (another trust bundle)"
        };
        println!("peer      {} {} {}{other}", peer.node_id, peer.addr, word(&peer.health));
    }
    Ok(())
}

/// The node's key, the one a rotation staged, and whether the log moved it to a key
/// it does not hold.
fn print_key(key: &KeyStatus) {
    println!("key       {}", word(&key.current));
    if let Some(staged) = &key.staged {
        println!("key next  {}", word(staged));
    }
    if let Some(by) = &key.superseded_by {
        let by = word(by);
        println!(
            "key lost  the log moved this node to {by}, which it does not hold: give it back its identity file, or remove the node"
        );
    }
}

/// The admission tokens a trusted-LAN node holds, by their public digests.
fn print_admission(admission: &psionic_core::wire::AdmissionStatus) {
    let held = |index: usize| admission.held.get(index).map(ToString::to_string);
    println!("admission token {}", held(0).unwrap_or_else(|| "?".to_owned()));
    if let Some(next) = held(1) {
        println!("admission next  {next}");
    }
    let committed = admission
        .committed
        .map_or_else(|| "none".to_owned(), |digest| digest.to_string());
    let stale = if admission.stale { " (stale: not held here)" } else { "" };
    println!("admission committed {committed}{stale}");
}

pub fn members(operator: &Operator, consistency: ReadConsistency) -> Result<(), Failed> {
    let consistency = match consistency {
        ReadConsistency::Linearizable => Consistency::Linearizable,
        ReadConsistency::Serializable => Consistency::Serializable,
    };
    let path = psionic_net::api::with_consistency(psionic_net::api::MEMBERS, consistency);
    let Some(answer) = fetch::<MembersAnswer>(operator, &path)? else {
        return Ok(());
    };
    let MembersAnswer::Members(members) = answer else {
        return Err((Failure::Refused, format!("{path}: not read")));
    };
    println!(
        "{:<34} {:<12} {:<9} {:<6} {:<7} {:<16} {:<8} health",
        "node", "role", "status", "voter", "leader", "cuda", "models"
    );
    for member in &members {
        print_member(member);
    }
    Ok(())
}

fn print_member(member: &MemberView) {
    let health = match (member.this_node, member.health) {
        (true, _) => "this node".to_owned(),
        (false, Some(health)) => word(&health),
        (false, None) => "-".to_owned(),
    };
    let resident = member
        .artifacts
        .values()
        .filter(|residency| **residency == psionic_core::state::Residency::Resident)
        .count();
    println!(
        "{:<34} {:<12} {:<9} {:<6} {:<7} {:<16} {:<8} {health}",
        member.node_id.to_string(),
        word(&member.role),
        word(&member.status),
        member.voter,
        member.leader,
        cuda_word(member.backends.get(&Backend::Cuda)),
        resident,
    );
}

/// `8 gpus`, the refusal's name (`no-driver`), or `-` when nothing is recorded.
fn cuda_word(readiness: Option<&BackendReadiness>) -> String {
    match readiness {
        Some(BackendReadiness::Ready { devices, .. }) => format!("{} gpus", devices.len()),
        Some(BackendReadiness::Refused { reason }) => word(reason),
        None => "-".to_owned(),
    }
}

pub fn candidates(operator: &Operator) -> Result<(), Failed> {
    let Some(candidates) = fetch::<Vec<CandidateStatus>>(operator, psionic_net::api::CANDIDATES)? else {
        return Ok(());
    };
    println!(
        "{:<34} {:<12} {:<22} {:<11} {:<34} {:>10} admission",
        "node", "role", "address", "state", "introduced by", "age_ms"
    );
    for candidate in &candidates {
        let introduced_by = match candidate.introduced_by {
            Introducer::Peer(peer) => format!("peer {peer}"),
            introducer => word(&introducer),
        };
        println!(
            "{:<34} {:<12} {:<22} {:<11} {:<34} {:>10} {}",
            candidate.node_id.to_string(),
            word(&candidate.role),
            candidate.addr.to_string(),
            word(&candidate.state),
            introduced_by,
            candidate.introduced_ms_ago,
            admission_word(&candidate.admission)
        );
    }
    Ok(())
}

/// `automatic`, `operator`, `removed`, `not-attested` with the binary measured, or
/// `trust-mismatch` with both trust bundle digests.
fn admission_word(admission: &CandidateAdmission) -> String {
    use psionic_core::attestation::AttestationRefusal;
    match admission {
        CandidateAdmission::NotAttested { refusal } => match refusal {
            AttestationRefusal::TrustMismatch { ours, theirs } => {
                let digest =
                    |digest: &Option<psionic_core::Digest>| digest.map_or("none".to_owned(), |d| d.to_string());
                format!("trust-mismatch ours {} theirs {}", ours, digest(theirs))
            }
            AttestationRefusal::NotAllowed { measured } => format!("not-attested {}", word(measured)),
            other => format!("not-attested ({})", word(other)),
        },
        other => word(other),
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
    let client = client(operator, Some(token_file))?;
    let command = if command == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| (Failure::Usage, format!("cannot read the command from stdin: {error}")))?;
        text
    } else {
        command.to_owned()
    };
    let command: Value = serde_json::from_str(&command)
        .map_err(|error| (Failure::Usage, format!("the command is not JSON: {error}")))?;
    let command: ClusterCommand = serde_json::from_value(command)
        .map_err(|error| (Failure::Usage, format!("the JSON is not a cluster command: {error}")))?;
    let answer = client.command(&command).map_err(network)?;
    let body = serde_json::to_string(&answer.reply).unwrap_or_default();
    match answer {
        Answer {
            status: 200,
            reply: Reply::Answer(CommandAnswer::Committed { index, proposal }),
        } => {
            if operator.json {
                println!("{body}");
            } else {
                println!("committed at index {index} (proposal \"{proposal}\")");
            }
            Ok(())
        }
        Answer { status, .. } => {
            println!("{body}");
            Err((Failure::Refused, format!("the node answered {status}: {body}")))
        }
    }
}

/// `rotate-key`: the node stages a new key; prints the command that rotates it.
pub fn rotate_key(operator: &Operator, token_file: &Path) -> Result<(), Failed> {
    let answer = client(operator, Some(token_file))?.rotate_key().map_err(network)?;
    match answer {
        Answer {
            status: 200,
            reply: Reply::Answer(KeyRotationAnswer::Staged(command)),
        } => {
            println!("{}", serde_json::to_string(&command).unwrap_or_default());
            Ok(())
        }
        Answer { status, reply } => {
            let body = serde_json::to_string(&reply).unwrap_or_default();
            Err((Failure::Refused, format!("the node answered {status}: {body}")))
        }
    }
}

/// `trust show`: the trust anchors of the node's signed capabilities.
pub fn trust_show(operator: &Operator) -> Result<(), Failed> {
    let answer = client(operator, None)?.capabilities().map_err(network)?;
    let (200, Reply::Answer(CapabilitiesAnswer::Signed(document))) = (answer.status, &answer.reply) else {
        let body = serde_json::to_string(&answer.reply).unwrap_or_default();
        let path = psionic_net::api::CAPABILITIES;
        return Err((
            Failure::Refused,
            format!("{path}: the node answered {}: {body}", answer.status),
        ));
    };
    let capabilities = &document.capabilities;
    if operator.json {
        /// What `trust show --json` prints.
        #[derive(Serialize)]
        struct Anchors<'a> {
            trust: &'a psionic_net::capabilities::TrustAnchors,
            trust_digest: psionic_core::Digest,
        }
        let anchors = Anchors {
            trust: &capabilities.trust,
            trust_digest: capabilities.trust_digest,
        };
        println!("{}", serde_json::to_string(&anchors).unwrap_or_default());
        return Ok(());
    }
    let trust = &capabilities.trust;
    let optional = |digest: Option<psionic_core::Digest>| digest.map_or_else(|| "-".to_owned(), |d| d.to_string());
    println!("node          {}", capabilities.node_id);
    println!("posture       {}", word(&trust.bundle.posture));
    for node in &trust.bundle.pinned_nodes {
        println!("pinned node   {node}");
    }
    for binary in &trust.bundle.allowed_binaries {
        println!("binary        {}", word(binary));
    }
    println!("trust digest  {}", capabilities.trust_digest);
    println!("authorization {}", optional(trust.authorization_policy));
    println!("admission     {}", optional(trust.admission_token));
    Ok(())
}

//! `verify-evidence`: checks a signed execution-evidence bundle offline against the
//! cluster's public keys (from its manifest, or given one by one).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use psionic_core::consensus::Fence;
use psionic_core::digest::from_hex;
use psionic_core::plan::SignedEvidence;
use psionic_core::{ClusterId, ClusterNamespace, NodeId};
use psionic_net::manifest::Manifest;
use serde_json::Value;

use crate::cli::{Failed, Failure};

/// Whom the verifier trusts.
pub struct Trust<'a> {
    pub manifest: Option<&'a Path>,
    pub cluster_id: Option<&'a str>,
    pub keys: &'a [String],
    /// The voters whose majority must have elected the signer (node ids); none: the
    /// manifest's voters, or every `--key`.
    pub voters: &'a [String],
    pub fence_at_least: u64,
    /// The prompt the request was made with, if the verifier knows it.
    pub prompt: Option<&'a str>,
}

pub fn verify(file: &Path, trust: &Trust<'_>) -> Result<(), Failed> {
    let text = std::fs::read_to_string(file)
        .map_err(|error| (Failure::Usage, format!("{}: cannot read: {error}", file.display())))?;
    let (bundle, tokens) =
        parse_bundle(&text).map_err(|reason| (Failure::Usage, format!("{}: {reason}", file.display())))?;
    let (cluster_id, keys, voters) = trusted(trust)?;
    let refused = |refusal| (Failure::Refused, format!("evidence refused: {refusal}"));
    bundle
        .verify(cluster_id, (&keys, &voters), Fence(trust.fence_at_least))
        .map_err(refused)?;
    if let Some(tokens) = &tokens {
        bundle.check_output(tokens).map_err(refused)?;
    }
    if let Some(prompt) = trust.prompt {
        bundle.check_prompt(prompt.as_bytes()).map_err(refused)?;
    }
    let context = &bundle.context;
    println!("verified  request {} signed by {}", context.request, bundle.signer);
    println!(
        "authority term {}, commit index {}, fence {}",
        context.authority.term, context.authority.commit_index, context.authority.fence.0
    );
    println!(
        "elected   by a majority of {} trusted voters ({} signed votes carried)",
        voters.len(),
        context.leadership.endorsements.len()
    );
    if voters.len() == 1 && voters.contains(&bundle.signer) {
        println!("note      the only trusted voter is the signer: give every voter's --key or --voter");
    }
    let nodes: Vec<String> = context
        .plan
        .executing()
        .iter()
        .map(|selected| selected.node.to_string())
        .collect();
    println!(
        "plan      {:?} on {} ({})",
        context.plan.lane(),
        nodes.join(", "),
        context.plan_digest
    );
    for device in &context.provenance.devices {
        let backend = serde_json::to_string(&device.backend).unwrap_or_default();
        match &device.profile {
            Some(profile) => println!(
                "device    {} {} {} {} ({})",
                device.node,
                backend.trim_matches('"'),
                profile.ordinal,
                profile.uuid,
                profile.name
            ),
            None => println!("device    {} {}", device.node, backend.trim_matches('"')),
        }
    }
    if let Some(result) = context.result_digest {
        let checked = if tokens.is_some() { " (the answer's tokens)" } else { "" };
        println!("result    {result}{checked}");
    }
    let checked = if trust.prompt.is_some() {
        " (the prompt given)"
    } else {
        ""
    };
    println!("prompt    {}{checked}", context.prompt_digest);
    println!(
        "sampling  {}",
        serde_json::to_string(&context.sampling).unwrap_or_default()
    );
    println!("reroutes  {}", context.reroutes.len());
    for (fact, set_by) in &context.provenance.set_by {
        println!(
            "set by    {fact}: {} at index {}",
            origin_words(&set_by.origin),
            set_by.index
        );
    }
    Ok(())
}

/// Who proposed a fact, in words.
fn origin_words(origin: &psionic_core::state::Origin) -> String {
    use psionic_core::state::Origin;
    match origin {
        Origin::Operator { credential, scope, .. } => format!("operator {credential} ({scope})"),
        Origin::Leader => "the leader's upkeep".to_owned(),
        Origin::Member { node } => format!("member {node} (its own report)"),
    }
}

/// A bare bundle, or the answer of `GET /v1/requests/{id}` holding one with the
/// tokens it answered.
fn parse_bundle(text: &str) -> Result<(SignedEvidence, Option<Vec<psionic_core::dispatch::Token>>), String> {
    let value: Value = serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
    let (bundle, tokens) = match value.pointer("/record/outcome/completed") {
        Some(completed) => (completed["evidence"].clone(), Some(completed["tokens"].clone())),
        None => (value, None),
    };
    let bundle = serde_json::from_value(bundle).map_err(|error| format!("not a signed evidence bundle: {error}"))?;
    let tokens = tokens
        .map(serde_json::from_value::<Vec<psionic_core::dispatch::Token>>)
        .transpose()
        .map_err(|error| format!("the answer's tokens are not token ids: {error}"))?;
    Ok((bundle, tokens))
}

/// The public keys given as `--key`, by node: 64 hex digits (the node whose id is
/// the key's digest), or `<node id>=<key>` (a node whose key was rotated).
pub fn given_keys(texts: &[String]) -> Result<BTreeMap<NodeId, VerifyingKey>, Failed> {
    texts.iter().map(|text| given_key(text)).collect()
}

fn given_key(text: &str) -> Result<(NodeId, VerifyingKey), Failed> {
    let usage = |what: &str| {
        let message = format!("--key {text}: {what}");
        (Failure::Usage, message)
    };
    let (node, key) = match text.trim().split_once('=') {
        Some((node, key)) => (Some(node), key),
        None => (None, text.trim()),
    };
    let key = from_hex::<32>(key)
        .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
        .ok_or_else(|| usage("not an ed25519 public key (64 hex digits, or <node id>=<key>)"))?;
    let node = match node {
        Some(node) => NodeId(from_hex::<16>(node).ok_or_else(|| usage("the node id is not 32 hex digits"))?),
        None => NodeId::from_public_key(&key),
    };
    Ok((node, key))
}

/// Every node's public key in a (validated) manifest.
pub fn manifest_keys(manifest: &Manifest) -> BTreeMap<NodeId, VerifyingKey> {
    manifest
        .nodes()
        .map(|(id, node)| {
            let bytes = from_hex::<32>(node.public_key.trim()).expect("a validated manifest");
            (id, VerifyingKey::from_bytes(&bytes).expect("a validated manifest"))
        })
        .collect()
}

/// The cluster, the trusted keys by node, and the trusted voters.
type Trusted = (ClusterId, BTreeMap<NodeId, VerifyingKey>, BTreeSet<NodeId>);

fn trusted(trust: &Trust<'_>) -> Result<Trusted, Failed> {
    let usage = |message: String| (Failure::Usage, message);
    let given = given_keys(trust.keys)?;
    let mut keys = BTreeMap::new();
    let mut voters: BTreeSet<NodeId> = BTreeSet::new();
    let cluster_id = match (trust.manifest, trust.cluster_id) {
        (Some(path), _) => {
            let manifest = Manifest::load(path).map_err(|error| (Failure::Config, error.to_string()))?;
            keys.extend(manifest_keys(&manifest));
            voters.extend(manifest.nodes().filter(|(_, node)| node.voter).map(|(id, _)| id));
            let namespace = ClusterNamespace::new(manifest.namespace()).expect("a validated manifest");
            ClusterId::derive(&namespace, manifest.cluster_genesis().as_bytes())
        }
        (None, Some(text)) => ClusterId(
            from_hex::<16>(text.trim()).ok_or_else(|| usage(format!("--cluster-id {text}: expected 32 hex digits")))?,
        ),
        (None, None) => return Err(usage("give --manifest, or --cluster-id with --key".into())),
    };
    // A key given wins over the manifest's (a node whose key was rotated since).
    keys.extend(given);
    if trust.manifest.is_none() {
        voters.extend(keys.keys().copied());
    }
    if !trust.voters.is_empty() {
        voters = trust
            .voters
            .iter()
            .map(|text| {
                from_hex::<16>(text.trim())
                    .map(NodeId)
                    .ok_or_else(|| usage(format!("--voter {text}: expected a node id (32 hex digits)")))
            })
            .collect::<Result<_, _>>()?;
    }
    if keys.is_empty() {
        return Err(usage(
            "no public key to verify against: give --manifest or --key".into(),
        ));
    }
    Ok((cluster_id, keys, voters))
}

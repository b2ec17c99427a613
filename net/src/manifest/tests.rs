use super::*;

const KEY_1: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const KEY_2: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

fn node(name: &str, key: &str, port: u16, voter: bool) -> String {
    format!(
        "[[node]]\nname = \"{name}\"\npublic_key = \"{key}\"\nrole = \"both\"\nvoter = {voter}\n\
         discovery_bind = \"127.0.0.1:{port}\"\nstream_port = {}\noperator_bind = \"127.0.0.1:{}\"\n\
         data_dir = \"{name}\"\n",
        port + 1,
        port + 80
    )
}

fn manifest(nodes: &str) -> String {
    format!(
        "manifest_version = 1\nnamespace = \"lab\"\ncluster_genesis = \"lab-2026-11\"\n\n\
         [trust]\nposture = \"trusted-lan\"\nadmission_token_file = \"token\"\n\n{nodes}"
    )
}

fn refusal(text: &str) -> (String, ManifestProblem) {
    match Manifest::parse(text) {
        Err(ManifestError::Invalid { field, problem, .. }) => (field, problem),
        other => panic!("expected a rule refusal, got {other:?}"),
    }
}

#[test]
fn a_valid_manifest_names_its_nodes_by_key() {
    let text = manifest(&(node("n1", KEY_1, 7400, true) + &node("n2", KEY_2, 7500, false)));
    let parsed = Manifest::parse(&text).unwrap();
    let ids: Vec<String> = parsed.nodes().map(|(id, _)| id.to_hex()).collect();
    let expected = NodeId::from_public_key(
        &ed25519_dalek::VerifyingKey::from_bytes(&psionic_core::digest::from_hex::<32>(KEY_1).unwrap()).unwrap(),
    );
    assert_eq!(ids[0], expected.to_hex());
}

#[test]
fn the_rollout_digest_ignores_layout_and_node_order_but_not_content() {
    let one = manifest(&(node("n1", KEY_1, 7400, true) + &node("n2", KEY_2, 7500, false)));
    let swapped = manifest(&(node("n2", KEY_2, 7500, false) + "\n# a comment\n" + &node("n1", KEY_1, 7400, true)));
    let changed = manifest(&(node("n1", KEY_1, 7400, true) + &node("n2", KEY_2, 7500, true)));
    let digest = |text: &str| Manifest::parse(text).unwrap().rollout_digest();
    assert_eq!(digest(&one), digest(&swapped));
    assert_ne!(digest(&one), digest(&changed));
}

#[test]
fn each_rule_names_the_field_and_what_was_expected() {
    let cases: Vec<(String, &str, ManifestProblem)> = vec![
        (
            manifest(&node("n1", KEY_1, 7400, true)).replace("manifest_version = 1", "manifest_version = 7"),
            "manifest_version",
            ManifestProblem::UnsupportedVersion { found: 7, supported: 1 },
        ),
        (manifest(""), "node", ManifestProblem::NoNodes),
        (
            manifest(&node("n1", KEY_1, 7400, false)),
            "node",
            ManifestProblem::NoVoters,
        ),
        (
            manifest(&(node("n1", KEY_1, 7400, true) + &node("n2", "abc", 7500, false))),
            "node[1].public_key",
            ManifestProblem::NotAPublicKey,
        ),
        (
            manifest(&(node("n1", KEY_1, 7400, true) + &node("n1", KEY_2, 7500, false))),
            "node[1].name",
            ManifestProblem::Duplicate {
                first: "node[0].name".into(),
            },
        ),
        (
            manifest(&(node("n1", KEY_1, 7400, true) + &node("n2", KEY_1, 7500, false))),
            "node[1].public_key",
            ManifestProblem::Duplicate {
                first: "node[0].public_key".into(),
            },
        ),
        (
            manifest(&node("n1", KEY_1, 7400, true)).replace("role = \"both\"", "role = \"executor\""),
            "node[0].voter",
            ManifestProblem::VoterCannotCoordinate,
        ),
        (
            manifest(&node("n1", KEY_1, 7400, true))
                .replace("operator_bind = \"127.0.0.1:7480\"", "operator_bind = \"0.0.0.0:7480\""),
            "node[0].operator_bind",
            ManifestProblem::OperatorNotLoopback {
                addr: "0.0.0.0:7480".parse().unwrap(),
            },
        ),
        (
            manifest(&node("n1", KEY_1, 7400, true)) + "[timing]\nelection_timeout_ms_min = 90\n",
            "timing",
            ManifestProblem::TimingOrder {
                heartbeat_ms: 100,
                min_ms: 90,
                max_ms: 1_000,
            },
        ),
    ];
    for (text, field, problem) in cases {
        assert_eq!(refusal(&text), (field.to_owned(), problem), "{text}");
    }
}

#[test]
fn an_inlined_secret_is_an_unknown_field_with_its_line() {
    let text = manifest(&node("n1", KEY_1, 7400, true)).replace(
        "admission_token_file = \"token\"",
        "admission_token_file = \"token\"\nadmission_token = \"hunter2hunter2hunter2\"",
    );
    let Err(ManifestError::Parse { source, .. }) = Manifest::parse(&text) else {
        panic!("refused as an unknown field")
    };
    let message = source.to_string();
    // The trust table is read as a whole: its line is the one named.
    assert!(
        message.contains("unknown field `admission_token`") && message.contains("line 5"),
        "{message}"
    );
}

#[test]
fn a_node_run_from_a_manifest_admits_only_the_manifests_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "the lab's admission token, 2026\n").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let parsed = Manifest::parse(&manifest(
        &(node("n1", KEY_1, 7400, true) + &node("n2", KEY_2, 7500, false)),
    ))
    .unwrap();
    let config = parsed.node_config(dir.path(), "n2").unwrap();
    let nodes: std::collections::BTreeSet<NodeId> = parsed.nodes().map(|(id, _)| id).collect();
    assert_eq!(config.settings.consensus.admit_only, nodes);
}

//! Bad start-ups give a one-line error naming the thing, a documented exit code, and
//! change nothing on disk.
#![cfg(not(madsim))]

use std::process::Command;

use psionic_tests::{init_node, node_binary, write_config, write_token};

fn run_node(config: &std::path::Path) -> (i32, String) {
    let output = Command::new(node_binary())
        .arg("run")
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_corrupt_identity_file_stops_the_node_and_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026");
    init_node(&dir.path().join("n1"));
    let identity = dir.path().join("n1/identity");
    let mut bytes = std::fs::read(&identity).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&identity, &bytes).unwrap();
    let (code, stderr) = run_node(&write_config(dir.path(), "n1", &[], "token"));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("n1/identity") && stderr.contains("checksum"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&identity).unwrap(), bytes);
}

#[test]
fn a_missing_identity_tells_the_operator_to_run_init() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026");
    let (code, stderr) = run_node(&write_config(dir.path(), "n1", &[], "token"));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("psionic-node init --data-dir"), "{stderr}");
}

#[test]
fn an_unknown_key_in_the_config_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026");
    let config = write_config(dir.path(), "n1", &[], "token");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("role = \"both\"", "role = \"both\"\nrole_typo = 1");
    std::fs::write(&config, text).unwrap();
    let (code, stderr) = run_node(&config);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("role_typo") && stderr.contains("line 5"), "{stderr}");
}

#[test]
fn a_token_file_readable_by_others_or_too_short_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    init_node(&dir.path().join("n1"));
    std::fs::write(dir.path().join("token"), "the lab's admission token, 2026").unwrap();
    let config = write_config(dir.path(), "n1", &[], "token");
    let (code, stderr) = run_node(&config);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
    write_token(&dir.path().join("token"), "short");
    let (code, stderr) = run_node(&config);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("at least 16"), "{stderr}");
}

#[test]
fn a_discovery_port_in_use_is_a_network_error_and_the_epoch_does_not_advance() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026");
    init_node(&dir.path().join("n1"));
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = write_config(dir.path(), "n1", &[], "token");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "discovery_bind = \"127.0.0.1:0\"",
        &format!("discovery_bind = \"{}\"", taken.local_addr().unwrap()),
    );
    std::fs::write(&config, text).unwrap();
    let identity_before = std::fs::read(dir.path().join("n1/identity")).unwrap();
    let (code, stderr) = run_node(&config);
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("cannot bind discovery socket"), "{stderr}");
    assert_eq!(std::fs::read(dir.path().join("n1/identity")).unwrap(), identity_before);
}

#[test]
fn a_public_operator_api_without_a_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026");
    init_node(&dir.path().join("n1"));
    let config = write_config(dir.path(), "n1", &[], "token");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("operator_bind = \"127.0.0.1:0\"", "operator_bind = \"0.0.0.0:0\"")
        .replace("operator_token_file = \"operator-token\"\n", "");
    std::fs::write(&config, text).unwrap();
    let (code, stderr) = run_node(&config);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("0.0.0.0:0") && stderr.contains("operator_token_file"),
        "{stderr}"
    );
}

#[test]
fn an_operator_token_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    write_token(&dir.path().join("token"), "the lab's admission token, 2026");
    init_node(&dir.path().join("n1"));
    let config = write_config(dir.path(), "n1", &[], "token");
    let operator_token = dir.path().join("operator-token");
    std::fs::set_permissions(&operator_token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, stderr) = run_node(&config);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("operator token file has mode 644") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

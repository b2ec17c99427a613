//! Helpers for integration tests that run real `psionic-node` processes on loopback.
#![cfg(not(madsim))]

pub mod cluster;
pub mod committing;
pub mod history;
pub mod models;
pub mod netns;
pub mod runbook;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use psionic_core::{NodeStatus, PeerHealth};
use psionic_net::api::{self, Answer, Client, ClientError, Reply, StateAnswer, StateRead};

/// The `psionic-node` binary, built once per test process into the same target dir.
pub fn node_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>/deps/<test>");
        let target_dir = profile_dir.parent().expect("target dir");
        let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "psionic-net",
                "--bin",
                "psionic-node",
                "--profile",
                profile,
            ])
            .arg("--target-dir")
            .arg(target_dir)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building psionic-node failed");
        profile_dir.join("psionic-node")
    })
}

/// The operator token every test configuration names (`operator-token` beside it).
pub const OPERATOR_TOKEN: &str = "the lab operator's token, 2026";

/// Writes an owner-only admission token file.
/// Runs `psionic-node ARGS` to completion: exit code, stdout, stderr.
pub fn node_cli(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(node_binary()).args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn write_token(path: &Path, token: &str) {
    std::fs::write(path, token).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Runs `psionic-node init --data-dir DIR` and returns the node id it printed.
pub fn init_node(data_dir: &Path) -> String {
    init_node_with_key(data_dir).0
}

/// Runs `psionic-node init --data-dir DIR` and returns the node id and public key it
/// printed.
pub fn init_node_with_key(data_dir: &Path) -> (String, String) {
    let output = Command::new(node_binary())
        .arg("init")
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let field = |name: &str| {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("{name} line"));
        line.split_whitespace().nth(1).unwrap().to_owned()
    };
    (field("node_id"), field("public_key"))
}

/// A one-node cluster (its own sole voter) in `dir`, started and leading; returns
/// its id and process.
pub fn single_voter_leader(dir: &Path) -> (String, NodeProcess) {
    write_token(&dir.join("token"), "the lab's admission token, 2026\n");
    let id = init_node(&dir.join("n1"));
    let config = write_voter_config(dir, "n1", &[], "token", std::slice::from_ref(&id));
    let node = NodeProcess::start(&config).unwrap();
    wait_until(Duration::from_secs(20), "the single voter to lead", || {
        leader_in(&node.state()).as_deref() == Some(id.as_str())
    });
    (id, node)
}

/// The node id of `hex` (32 hex digits).
pub fn node_id(hex: &str) -> psionic_core::NodeId {
    psionic_core::NodeId(psionic_core::digest::from_hex::<16>(hex).expect("a node id: 32 hex digits"))
}

/// The leader `state` names (hex id), if any.
pub fn leader_in(state: &StateRead) -> Option<String> {
    state.report.coordinator.leader.map(|leader| leader.to_string())
}

/// A loopback port free a moment ago (for files that must name fixed ports).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a node prints once listening.
#[derive(Debug, Clone)]
pub struct Listening {
    /// Node id (hex).
    pub node_id: String,
    /// Epoch of this life.
    pub epoch: u64,
    /// Discovery address.
    pub discovery_addr: SocketAddr,
    /// Operator API address.
    pub operator_addr: SocketAddr,
    /// Peer-stream listener address.
    pub stream_addr: SocketAddr,
}

/// A running `psionic-node run` process; killed on drop.
#[derive(Debug)]
pub struct NodeProcess {
    child: Child,
    /// Its announced addresses.
    pub listening: Listening,
    log_lines: Arc<AtomicU64>,
}

impl NodeProcess {
    /// Starts `psionic-node run --config CONFIG` and waits for its listening line.
    pub fn start(config: &Path) -> Result<Self, String> {
        Self::start_with(&["--config".as_ref(), config.as_os_str()])
    }

    /// Starts `psionic-node run ARGS` and waits for its listening line.
    pub fn start_with(args: &[&std::ffi::OsStr]) -> Result<Self, String> {
        Self::start_binary(node_binary(), args)
    }

    /// Starts `BINARY run ARGS` (a copy of `psionic-node`) and waits for its
    /// listening line.
    pub fn start_binary(binary: &Path, args: &[&std::ffi::OsStr]) -> Result<Self, String> {
        let mut command = Command::new(binary);
        command.arg("run").args(args);
        Self::start_command(command)
    }

    /// Starts `psionic-node run --config CONFIG` inside the network namespace `ns`
    /// (`ip netns exec`, which becomes the node's process).
    pub fn start_in_namespace(ns: &str, config: &Path) -> Result<Self, String> {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", ns])
            .arg(node_binary())
            .arg("run")
            .arg("--config")
            .arg(config);
        Self::start_command(command)
    }

    /// Runs `command` (a node's `run`) and waits for its listening line.
    fn start_command(mut command: Command) -> Result<Self, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| error.to_string())?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .map_err(|error| error.to_string())?;
        if line.is_empty() {
            let mut stderr = String::new();
            child.stderr.take().unwrap().read_to_string(&mut stderr).ok();
            let status = child.wait().map_err(|error| error.to_string())?;
            return Err(format!("exited with {status}: {stderr}"));
        }
        let announced: api::Listening = serde_json::from_str(&line).map_err(|error| format!("{error}: {line}"))?;
        let listening = Listening {
            node_id: announced.node_id.to_string(),
            epoch: announced.epoch,
            discovery_addr: announced.discovery_addr,
            operator_addr: announced.operator_addr,
            stream_addr: announced.stream_addr,
        };
        // Keep stderr drained so the child never blocks on a full pipe; count its lines.
        let stderr = child.stderr.take().unwrap();
        let log_lines = Arc::new(AtomicU64::new(0));
        let counted = log_lines.clone();
        std::thread::spawn(move || {
            for _ in BufReader::new(stderr).split(b'\n') {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(Self {
            child,
            listening,
            log_lines,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lines the node has logged (to stderr) so far.
    pub fn log_lines(&self) -> u64 {
        self.log_lines.load(Ordering::Relaxed)
    }

    /// A client of its operator API bearing the operator token.
    pub fn client(&self) -> Client {
        client(self.listening.operator_addr)
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> NodeStatus {
        status_of(self.listening.operator_addr)
    }

    /// `GET /v1/state?consistency=serializable`: this node's own view.
    pub fn state(&self) -> StateRead {
        state_of(self.listening.operator_addr, psionic_net::Consistency::Serializable)
    }

    /// SIGKILL, and wait for the process to go.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, and wait for a clean exit; returns the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.child.wait().unwrap()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a trusted-LAN node configuration file and returns its path.
pub fn write_config(dir: &Path, name: &str, seeds: &[SocketAddr], token_file: &str) -> PathBuf {
    let trust = format!("posture = \"trusted-lan\"\nadmission_token_file = \"{token_file}\"");
    write_config_with_trust(dir, name, seeds, &trust)
}

/// Writes a trusted-LAN node configuration with `voters` (node ids) as the genesis
/// voters, with short LAN timings.
pub fn write_voter_config(
    dir: &Path,
    name: &str,
    seeds: &[SocketAddr],
    token_file: &str,
    voters: &[String],
) -> PathBuf {
    let path = write_config(dir, name, seeds, token_file);
    let voters: Vec<String> = voters
        .iter()
        .map(|id| format!("{{ node_id = \"{id}\", role = \"both\" }}"))
        .collect();
    let consensus = format!("\n[consensus]\ninitial_voters = [{}]\n", voters.join(", "));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&consensus);
    std::fs::write(&path, text).unwrap();
    path
}

/// A client of the operator API at `addr` bearing the operator token.
pub fn client(addr: SocketAddr) -> Client {
    Client::new(addr).with_bearer(OPERATOR_TOKEN)
}

/// The status and the route's own answer of a request that must get one (panics when
/// the node is unreachable or gives a failure any route may give).
pub fn answered<T: std::fmt::Debug>(answer: Result<Answer<T>, ClientError>) -> (u16, T) {
    let answer = answer.expect("operator API reachable");
    match answer.reply {
        Reply::Answer(answer_body) => (answer.status, answer_body),
        Reply::Failure(failure) => panic!("answered {} {failure:?}", answer.status),
    }
}

/// The status and the failure a request must get (panics on the route's own answer).
pub fn failed<T: std::fmt::Debug>(answer: Result<Answer<T>, ClientError>) -> (u16, api::Failure) {
    let answer = answer.expect("operator API reachable");
    match answer.reply {
        Reply::Failure(failure) => (answer.status, failure),
        Reply::Answer(body) => panic!("answered {} {body:?}", answer.status),
    }
}

/// `GET /v1/status` of the node at `addr`.
pub fn status_of(addr: SocketAddr) -> NodeStatus {
    let (code, report) = answered(Client::new(addr).status());
    assert_eq!(code, 200);
    report.status
}

/// `GET /v1/state` of the node at `addr`, read with `consistency`.
pub fn state_of(addr: SocketAddr, consistency: psionic_net::Consistency) -> StateRead {
    match answered(client(addr).state(consistency)) {
        (200, StateAnswer::Read(read)) => *read,
        (code, answer) => panic!("not read: {code} {answer:?}"),
    }
}

/// A plain HTTP/1.1 request carrying a JSON body, bearing `token` (or no
/// `Authorization` header): for peers' APIs (etcd) and requests no client would send.
pub fn json_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &serde_json::Value,
    token: Option<&str>,
) -> String {
    let body = body.to_string();
    let authorization = token.map_or(String::new(), |token| format!("Authorization: Bearer {token}\r\n"));
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Sends `request` and returns the status code and body.
pub fn http_exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    try_http_exchange(addr, request).expect("operator API reachable")
}

/// Sends `request` and returns the status code and body, or why no whole answer came
/// (the node is down, or it closed the connection first).
pub fn try_http_exchange(addr: SocketAddr, request: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no whole HTTP answer"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_owned()))
}

/// Starts the node of `config` with its operator API bound to every address (off
/// loopback: guarded reads need a credential); returns it and the API's loopback
/// address.
pub fn start_off_loopback(config: &Path) -> (NodeProcess, SocketAddr) {
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(
        config,
        text.replace("operator_bind = \"127.0.0.1:0\"", "operator_bind = \"0.0.0.0:0\""),
    )
    .unwrap();
    let node = NodeProcess::start(config).unwrap();
    let api = SocketAddr::from(([127, 0, 0, 1], node.listening.operator_addr.port()));
    (node, api)
}

/// A plain HTTP/1.1 GET; returns the status code and body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

/// Writes a configured-peers node configuration file pinning `public_keys`.
pub fn write_pinned_config(dir: &Path, name: &str, seeds: &[SocketAddr], public_keys: &[&str]) -> PathBuf {
    let keys: Vec<String> = public_keys.iter().map(|key| format!("\"{key}\"")).collect();
    let trust = format!(
        "posture = \"configured-peers\"\npeer_public_keys = [{}]",
        keys.join(", ")
    );
    write_config_with_trust(dir, name, seeds, &trust)
}

fn write_config_with_trust(dir: &Path, name: &str, seeds: &[SocketAddr], trust: &str) -> PathBuf {
    write_token(&dir.join("operator-token"), OPERATOR_TOKEN);
    let seeds: Vec<String> = seeds.iter().map(|seed| format!("\"{seed}\"")).collect();
    let text = format!(
        r#"data_dir = "{name}"
namespace = "lab"
cluster_genesis = "lab-test"
role = "both"
discovery_bind = "127.0.0.1:0"
operator_bind = "127.0.0.1:0"
operator_token_file = "operator-token"
seeds = [{seeds}]

[trust]
{trust}

[discovery]
probe_interval_ms = 100
"#,
        seeds = seeds.join(", ")
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The health a status reports for `peer` (hex id), if listed.
pub fn peer_health(status: &NodeStatus, peer: &str) -> Option<PeerHealth> {
    let entry = status.peers.iter().find(|entry| entry.node_id.to_string() == peer)?;
    Some(entry.health)
}

/// The epoch a status reports for `peer` (hex id), if listed.
pub fn peer_epoch(status: &NodeStatus, peer: &str) -> Option<u64> {
    let entry = status.peers.iter().find(|entry| entry.node_id.to_string() == peer)?;
    Some(entry.epoch.0)
}

/// The value of the metric line of `text` (a `/metrics` answer) that starts with
/// `line_start` (name and labels, then a space).
pub fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{line_start}` in:\n{text}"))
}

/// Where benchmarks write their receipts: `PSIONIC_RECEIPTS_DIR`, else `receipts` in
/// the target directory (`CARGO_TARGET_DIR`, else the workspace's `target`).
pub fn receipts_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(psionic_net::receipt::RECEIPTS_DIR_ENV) {
        return PathBuf::from(dir);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
            PathBuf::from,
        )
        .join("receipts")
}

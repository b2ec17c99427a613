//! The peer: a three-member etcd on loopback ports, started from the `etcd` on the
//! PATH (Debian's `etcd-server` package), stopped when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use psionic_tests::{free_port, json_request, try_http_exchange, wait_until};
use serde_json::{Value, json};

/// The key every read asks for (base64 of `psionic-read`).
pub const KEY_BASE64: &str = "cHNpb25pYy1yZWFk";

/// A running three-member etcd.
pub struct Etcd {
    members: Vec<Child>,
    /// Client addresses, by member.
    pub clients: Vec<SocketAddr>,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for member in &mut self.members {
            let _ = member.kill();
            let _ = member.wait();
        }
    }
}

/// Whether `etcd` is on the PATH.
pub fn available() -> bool {
    Command::new("etcd").arg("--version").output().is_ok()
}

impl Etcd {
    /// Starts three members with data under `dir` and writes the key read.
    pub fn start(dir: &Path) -> Self {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let initial_cluster: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(index, (_, peer))| format!("e{index}=http://127.0.0.1:{peer}"))
            .collect();
        let members = ports
            .iter()
            .enumerate()
            .map(|(index, (client, peer))| {
                let client_url = format!("http://127.0.0.1:{client}");
                let peer_url = format!("http://127.0.0.1:{peer}");
                Command::new("etcd")
                    .args(["--name", &format!("e{index}")])
                    .arg("--data-dir")
                    .arg(dir.join(format!("e{index}")))
                    .args([
                        "--listen-client-urls",
                        &client_url,
                        "--advertise-client-urls",
                        &client_url,
                    ])
                    .args([
                        "--listen-peer-urls",
                        &peer_url,
                        "--initial-advertise-peer-urls",
                        &peer_url,
                    ])
                    .args(["--initial-cluster", &initial_cluster.join(",")])
                    .args(["--initial-cluster-state", "new", "--log-level", "error"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("etcd starts")
            })
            .collect();
        let clients = ports
            .iter()
            .map(|(client, _)| SocketAddr::from(([127, 0, 0, 1], *client)))
            .collect();
        let etcd = Self { members, clients };
        let put = json!({ "key": KEY_BASE64, "value": "cmVhZCBtZQ==" });
        wait_until(Duration::from_secs(30), "etcd to commit a put", || {
            etcd.post(etcd.clients[0], "/v3/kv/put", &put)
                .is_some_and(|answer| answer["header"]["revision"].is_string())
        });
        etcd
    }

    /// The client address of the leader and of one follower.
    pub fn leader_and_follower(&self) -> (SocketAddr, SocketAddr) {
        let statuses: Vec<Value> = self
            .clients
            .iter()
            .map(|client| {
                self.post(*client, "/v3/maintenance/status", &json!({}))
                    .expect("status")
            })
            .collect();
        let leads = |status: &Value| status["leader"] == status["header"]["member_id"];
        let leader = statuses.iter().position(leads).expect("an etcd leader");
        let follower = statuses
            .iter()
            .position(|status| !leads(status))
            .expect("an etcd follower");
        (self.clients[leader], self.clients[follower])
    }

    fn post(&self, client: SocketAddr, path: &str, body: &Value) -> Option<Value> {
        let request = json_request(client, "POST", path, body, None);
        let (code, body) = try_http_exchange(client, &request).ok()?;
        (code == 200).then(|| serde_json::from_str(&body).ok()).flatten()
    }
}

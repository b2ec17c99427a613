//! `demo`: a real cluster on loopback inside one process, for a first look.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use psionic_core::{
    AdmissionToken, ClusterCommand, ClusterNamespace, ConsensusConfig, DiscoveryConfig, NodeEpoch, NodeIdentity,
    NodeRole, TrustPosture,
};
use psionic_net::http;
use psionic_net::identity_file::generate_secret_key;
use psionic_net::{Clock, IdentityFile, LogObserver, NodeSettings, RunningNode};

use crate::cli::{Failed, Failure};
use crate::serve::{create_private_dir, runtime, shutdown_signal};

/// How long the demo waits for one leader followed by every node.
const LEADER_WAIT: Duration = Duration::from_secs(30);
/// Commands the demo commits.
const DEMO_COMMANDS: u64 = 3;

pub fn run(nodes: u8, models: Option<&Path>) -> Result<(), Failed> {
    let model = models.map(crate::demo_models::first_model).transpose()?;
    let dir = std::env::temp_dir().join(format!("psionic-demo-{}", std::process::id()));
    create_private_dir(&dir).map_err(|error| (Failure::DataDir, format!("{}: {error}", dir.display())))?;
    let result = runtime().block_on(demo(&dir, nodes, models.zip(model)));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn demo(dir: &Path, count: u8, models: Option<(&Path, psionic_core::Digest)>) -> Result<(), Failed> {
    let keys: Vec<[u8; 32]> = (0..count).map(|_| generate_secret_key()).collect();
    let voters = keys
        .iter()
        .map(|key| (NodeIdentity::new(*key, NodeEpoch(0)).node_id(), NodeRole::Both))
        .collect::<Vec<_>>();
    let admission = hex::encode(generate_secret_key());
    let operator_secret = hex::encode(generate_secret_key());
    let token_path = dir.join("operator-token");
    write_owner_only(&token_path, &operator_secret)?;
    let credentials = http::Credentials::all_scopes(http::OPERATOR_TOKEN_ID, operator_secret.as_bytes());
    println!("demo      {count} nodes on loopback, data in {}", dir.display());
    let mut nodes: Vec<RunningNode> = Vec::new();
    let mut operator_addrs = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let data_dir = dir.join(format!("n{}", index + 1));
        let seeds = nodes
            .first()
            .map(|first| vec![first.discovery_addr])
            .unwrap_or_default();
        let node = start_node(
            &data_dir,
            *key,
            &admission,
            seeds,
            voters.clone(),
            models.map(|(dir, _)| dir),
        )
        .await?;
        let operator_addr = serve_operator_api(&node, credentials.clone()).await?;
        println!(
            "node n{}   {}  operator API http://{operator_addr}",
            index + 1,
            node.node_id
        );
        nodes.push(node);
        operator_addrs.push(operator_addr);
    }
    println!(
        "token     curl -H \"Authorization: Bearer $(cat {})\" ...",
        token_path.display()
    );
    let leader = await_leader(&nodes).await?;
    for n in 1..=DEMO_COMMANDS {
        let command = ClusterCommand::SetPolicy {
            name: format!("demo-{n}"),
            document: format!("document {n}").into_bytes(),
        };
        let committed = nodes[leader]
            .propose(vec![command])
            .await
            .map_err(|error| (Failure::Refused, format!("demo command {n}: {error}")))?;
        println!("committed demo-{n} at index {}", committed[0].index);
    }
    let state = nodes[leader].state.borrow().clone();
    println!(
        "state     {}",
        serde_json::to_string_pretty(&state).expect("state reports serialise")
    );
    if let Some((_, model)) = models {
        crate::demo_models::await_resident(&nodes, model).await?;
        crate::demo_models::serve_once(operator_addrs[leader], operator_secret, &token_path, model).await?;
    }
    let stop = shutdown_signal();
    println!("running   press Ctrl-C to stop");
    stop.await;
    for node in nodes {
        let _ = node.shutdown().await;
    }
    println!("stopped");
    Ok(())
}

async fn start_node(
    data_dir: &Path,
    key: [u8; 32],
    admission: &str,
    seeds: Vec<std::net::SocketAddr>,
    initial_voters: Vec<(psionic_core::NodeId, NodeRole)>,
    models: Option<&Path>,
) -> Result<RunningNode, Failed> {
    let (executor, artifacts) = match models {
        Some(dir) => {
            let (executor, source) = crate::demo_models::executor_of(dir);
            (executor, Some(source))
        }
        None => (
            Arc::new(psionic_net::execute::ReferenceExecutor::cpu()) as Arc<dyn psionic_net::execute::Executor>,
            None,
        ),
    };
    create_private_dir(data_dir).map_err(|error| (Failure::DataDir, format!("{}: {error}", data_dir.display())))?;
    IdentityFile::in_dir(data_dir)
        .create(key)
        .await
        .map_err(|error| (Failure::DataDir, error.to_string()))?;
    let settings = NodeSettings {
        data_dir: data_dir.to_owned(),
        namespace: ClusterNamespace::new("demo").expect("a valid namespace"),
        cluster_genesis: b"psionic-demo".to_vec(),
        role: NodeRole::Both,
        posture: TrustPosture::TrustedLan {
            token: AdmissionToken::new(admission.as_bytes().to_vec()).expect("64 hex characters"),
            next: None,
        },
        discovery_bind: "127.0.0.1:0".parse().expect("an address"),
        stream_port: 0,
        seeds,
        discovery: DiscoveryConfig::default(),
        consensus: ConsensusConfig {
            initial_voters,
            ..ConsensusConfig::default()
        },
        clock: Clock::new(),
        mutations: Default::default(),
        devices: Default::default(),
        executor,
        artifacts,
        artifact_disk: None,
        state_watch_ms_min: 0,
        binary: None,
    };
    psionic_net::start(settings, Arc::new(LogObserver::default()))
        .await
        .map_err(|error| (Failure::Network, error.to_string()))
}

async fn serve_operator_api(
    node: &RunningNode,
    credentials: http::Credentials,
) -> Result<std::net::SocketAddr, Failed> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|error| (Failure::Network, format!("cannot bind an operator API: {error}")))?;
    let addr = listener
        .local_addr()
        .map_err(|error| (Failure::Network, error.to_string()))?;
    let app = http::router(http::ApiState::of(node, credentials));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Waits until every node follows one effective leader; returns its position.
async fn await_leader(nodes: &[RunningNode]) -> Result<usize, Failed> {
    let deadline = tokio::time::Instant::now() + LEADER_WAIT;
    loop {
        let leaders: Vec<_> = nodes
            .iter()
            .map(|node| {
                let view = node.state.borrow().coordinator;
                view.effective.then_some(view.leader).flatten()
            })
            .collect();
        if let Some(Some(leader)) = leaders.first()
            && leaders.iter().all(|seen| *seen == Some(*leader))
            && let Some(position) = nodes.iter().position(|node| node.node_id == *leader)
        {
            println!("leader    {leader}");
            return Ok(position);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err((Failure::Network, format!("no leader within {LEADER_WAIT:?}")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn write_owner_only(path: &PathBuf, text: &str) -> Result<(), Failed> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let write = || -> std::io::Result<()> {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(text.as_bytes())
    };
    write().map_err(|error| (Failure::DataDir, format!("{}: {error}", path.display())))
}

//! `init` and `run`: a node's identity, and the node itself with its operator API.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use psionic_core::trust::TrustBundle;
use psionic_cuda::CudaReadiness;
use psionic_net::capabilities::{CapabilitySource, Measurement};
use psionic_net::config_file::ConfigFile;
use psionic_net::identity_file::generate_secret_key;
use psionic_net::manifest::{MANIFEST_VERSION, Manifest};
use psionic_net::{IdentityFile, LogObserver, StartError, http};

use crate::cli::{Failed, Failure};

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub fn init(data_dir: &Path) -> Result<(), Failed> {
    create_private_dir(data_dir).map_err(|error| {
        (
            Failure::DataDir,
            format!("{}: cannot create data directory: {error}", data_dir.display()),
        )
    })?;
    let file = IdentityFile::in_dir(data_dir);
    let identity = runtime()
        .block_on(file.create(generate_secret_key()))
        .map_err(|error| (Failure::DataDir, error.to_string()))?;
    println!("node_id     {}", identity.node_id());
    println!("public_key  {}", hex::encode(identity.public_key().as_bytes()));
    println!("identity    {}", file.path().display());
    Ok(())
}

pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

pub fn run(config: Option<&Path>, manifest: Option<&Path>, node: Option<&str>) -> Result<(), Failed> {
    let source = match (config, manifest, node) {
        (Some(path), _, _) => ConfigSource::File(path.to_owned()),
        (None, Some(path), Some(node)) => ConfigSource::Manifest {
            path: path.to_owned(),
            node: node.to_owned(),
        },
        _ => unreachable!("clap requires --config, or --manifest with --node"),
    };
    let measurement = Measurement::of_this_process(source.path());
    let config = source.load().map_err(|message| (Failure::Config, message))?;
    runtime().block_on(serve(config, source, measurement))
}

/// Where a node's configuration comes from: read at start, and again on SIGHUP.
#[derive(Clone, Debug)]
enum ConfigSource {
    /// `--config FILE`.
    File(PathBuf),
    /// `--manifest FILE --node NAME`.
    Manifest { path: PathBuf, node: String },
}

impl ConfigSource {
    fn path(&self) -> &Path {
        match self {
            ConfigSource::File(path) | ConfigSource::Manifest { path, .. } => path,
        }
    }

    /// The configuration as the file says now.
    fn load(&self) -> Result<ConfigFile, String> {
        match self {
            ConfigSource::File(path) => ConfigFile::load(path).map_err(|error| error.to_string()),
            ConfigSource::Manifest { path, node } => {
                let manifest = Manifest::load(path).map_err(|error| error.to_string())?;
                let base = path.parent().unwrap_or(Path::new("."));
                manifest
                    .node_config(base, node)
                    .map_err(|error| format!("{}: {error}", path.display()))
            }
        }
    }
}

pub fn devices(json: bool) -> Result<(), Failed> {
    let readiness = CudaReadiness::of(psionic_cuda::probe());
    if json {
        println!("{}", serde_json::to_string(&readiness).expect("readiness serialises"));
        return Ok(());
    }
    match readiness {
        CudaReadiness::Refused { reason } => println!("cuda      not ready: {reason}\ncpu       ready"),
        CudaReadiness::Ready { inventory } => {
            let version = inventory.driver_version;
            println!("cuda      ready, driver {}.{}", version / 1000, version % 1000 / 10);
            for device in &inventory.devices {
                let gib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0 * 1024.0);
                println!(
                    "gpu {}     {} {} sm_{}{} {:.1} GiB total, {:.1} GiB free",
                    device.ordinal,
                    device.name,
                    device.uuid,
                    device.compute_capability.0,
                    device.compute_capability.1,
                    gib(device.total_memory_bytes),
                    gib(device.free_memory_bytes)
                );
                let tested = psionic_cuda::forward::CudaDevice::open(device.ordinal)
                    .and_then(|opened| psionic_cuda::forward::self_test(&opened));
                match tested {
                    Ok(error) => println!("          runs models: self-test within {error} millionths of the CPU"),
                    Err(reason) => println!("          runs no models: {reason}"),
                }
            }
            println!("cpu       ready");
        }
    }
    Ok(())
}

pub fn check_manifest(path: &Path) -> Result<(), Failed> {
    let manifest = Manifest::load(path).map_err(|error| (Failure::Config, error.to_string()))?;
    println!("manifest  {} (version {MANIFEST_VERSION})", path.display());
    println!("namespace {}", manifest.namespace());
    for (id, node) in manifest.nodes() {
        let voter = if node.voter { "voter" } else { "learner" };
        println!(
            "node      {:<12} {id} {:?} {voter} {}",
            node.name, node.role, node.discovery_bind
        );
    }
    println!("rollout   {}", manifest.rollout_digest());
    Ok(())
}

/// Locks `data_dir` for this process (exit 4 if another holds it).
pub fn lock_data_dir(data_dir: &Path) -> Result<File, Failed> {
    let path = data_dir.join("lock");
    let describe = |error: &dyn std::fmt::Display| {
        (
            Failure::DataDir,
            format!("{}: cannot lock data directory: {error}", path.display()),
        )
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| describe(&e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err((
            Failure::DataDir,
            format!(
                "{}: another psionic-node is using this data directory",
                data_dir.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(error)) => Err(describe(&error)),
    }
}

async fn serve(mut config: ConfigFile, source: ConfigSource, measurement: Measurement) -> Result<(), Failed> {
    config.settings.binary = measurement.binary_digest();
    let data_dir = &config.settings.data_dir;
    let identity = IdentityFile::in_dir(data_dir)
        .load()
        .await
        .map_err(|error| (Failure::DataDir, error.to_string()))?;
    let bundle = TrustBundle::of(
        &config.settings.posture,
        identity.node_id(),
        &config.settings.consensus.allowed_binaries,
    );
    let capability_source = CapabilitySource { measurement, bundle };
    let _lock = lock_data_dir(data_dir)?;
    match CudaReadiness::of(psionic_cuda::probe()) {
        CudaReadiness::Ready { inventory } => {
            let devices = inventory.devices.len();
            tracing::info!(devices, driver = inventory.driver_version, "cuda backend ready");
        }
        CudaReadiness::Refused { reason } => tracing::info!(%reason, "cuda backend not ready; cpu ready"),
    }
    let operator = tokio::net::TcpListener::bind(config.operator_bind)
        .await
        .map_err(|error| {
            let message = format!(
                "cannot bind operator API {}: {error} (pick another `operator_bind`)",
                config.operator_bind
            );
            (Failure::Network, message)
        })?;
    let operator_addr = operator
        .local_addr()
        .map_err(|error| (Failure::Network, error.to_string()))?;
    let node = psionic_net::start(config.settings, Arc::new(LogObserver::default()))
        .await
        .map_err(|error| {
            let failure = match error {
                StartError::Identity(_) | StartError::Store(_) => Failure::DataDir,
                StartError::Bind { .. } => Failure::Network,
                StartError::Config(_) => Failure::Config,
            };
            (failure, error.to_string())
        })?;
    let listening = psionic_net::api::Listening {
        node_id: node.node_id,
        epoch: node.epoch.0,
        discovery_addr: node.discovery_addr,
        stream_addr: node.stream_addr,
        operator_addr,
    };
    // Handlers are in place before the node says it is listening.
    let stop = shutdown_signal();
    let off_loopback = !operator_addr.ip().is_loopback();
    let api = http::ApiState::of(&node, config.credentials.clone())
        .guard_reads(off_loopback)
        .publish_capabilities(capability_source);
    let reload = Reload {
        api: api.clone(),
        source,
        node: node.client(),
        off_loopback,
    };
    reload_on_hangup(reload);
    println!("{}", serde_json::to_string(&listening).unwrap_or_default());
    let app = http::router(api);
    http::serve(operator, app, config.operator_tls.clone(), stop).await;
    if let Some(successor) = node.transfer_leadership().await {
        tracing::info!(%successor, "leadership handed over before exit");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    node.shutdown()
        .await
        .map_err(|error| (Failure::DataDir, error.to_string()))?;
    tracing::info!("node stopped");
    Ok(())
}

/// What a SIGHUP re-reads, and where it puts it.
struct Reload {
    api: http::ApiState,
    source: ConfigSource,
    node: psionic_net::NodeClient,
    off_loopback: bool,
}

/// Re-reads the configuration on every SIGHUP, and takes from it the operator
/// credentials and the admission tokens (the files it names now, as they are now). A
/// configuration that does not load (or, off loopback, leaves no credential) is
/// logged and what is in force stays.
fn reload_on_hangup(reload: Reload) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).expect("SIGHUP handler can be installed");
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match reload.source.load() {
                Ok(config) => {
                    reload_credentials(&reload, config.credentials);
                    reload_admission_tokens(&reload, config.settings.posture).await;
                }
                Err(error) => tracing::error!(%error, "configuration not reloaded; what is in force stays"),
            }
        }
    });
}

fn reload_credentials(reload: &Reload, credentials: http::Credentials) {
    if reload.off_loopback && credentials.is_empty() {
        tracing::error!("operator credentials not reloaded: none left, and the API is off loopback");
        return;
    }
    let ids: Vec<String> = credentials.iter().map(|credential| credential.id.clone()).collect();
    reload.api.replace_credentials(credentials);
    tracing::info!(credentials = ?ids, "operator credentials reloaded");
}

async fn reload_admission_tokens(reload: &Reload, posture: psionic_core::TrustPosture) {
    let psionic_core::TrustPosture::TrustedLan { next, .. } = &posture else {
        return;
    };
    let next = next.is_some();
    if reload.node.replace_admission_tokens(posture).await {
        tracing::info!(next, "admission tokens reloaded");
    }
}

/// Registers SIGINT and SIGTERM handlers now; the future ends at the first signal.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler can be installed");
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler can be installed");
    async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    }
}

//! Starting a node: identity, socket, core, driver task.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use psionic_core::consensus::{Authority, Mutations, ProposalRejection, TransferRefusal};
use psionic_core::dispatch::{CancelRefusal, InferenceRequest, PlanRequest, RequestOutcome, SubmitRefusal};
use psionic_core::plan::{Placement, PlacementRefusal};
use psionic_core::serving::Decision;
use psionic_core::state::{ApplyRefusal, LOCAL_CREDENTIAL, Origin, Residency};
use psionic_core::{
    ClusterCommand, ClusterId, ClusterNamespace, ConfigError, ConsensusConfig, DiscoveryConfig, Node, NodeConfig,
    NodeEpoch, NodeId, NodeRole, NodeStatus, ProposalId, RequestId, StateReport, TrustPosture,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use tracing::Instrument as _;

use crate::clock::Clock;
use crate::devices::{self, DeviceSource};
use crate::driver::{Driver, Request};
use crate::durable::{DurableStore, StoreError};
use crate::entropy;
use crate::execute::Executor;
use crate::identity_file::{IdentityError, IdentityFile};
use crate::metrics::NodeMetrics;
use crate::observer::Observer;
use crate::serving::Serving;
use crate::stream::{self, Outbound};
use crate::udp::{self, UdpSocket};

/// Everything needed to start a node, after configuration files were read.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Holds the identity file.
    pub data_dir: PathBuf,
    /// Cluster namespace.
    pub namespace: ClusterNamespace,
    /// Cluster genesis value (fixed when the cluster was created).
    pub cluster_genesis: Vec<u8>,
    /// This node's role.
    pub role: NodeRole,
    /// Trust posture.
    pub posture: TrustPosture,
    /// Where discovery listens.
    pub discovery_bind: SocketAddr,
    /// Port of the peer-stream listener, on the discovery IP (0: any free port).
    pub stream_port: u16,
    /// Discovery seed addresses.
    pub seeds: Vec<SocketAddr>,
    /// Discovery timing.
    pub discovery: DiscoveryConfig,
    /// Consensus timing and genesis voters.
    pub consensus: ConsensusConfig,
    /// The node's clock.
    pub clock: Clock,
    /// Known bugs to plant in consensus; inert outside simulation builds.
    pub mutations: Mutations,
    /// Where backend readiness and device telemetry come from.
    pub devices: DeviceSource,
    /// What runs inference here; its profiles are the lanes this node declares.
    pub executor: Arc<dyn Executor>,
    /// The models directory the executor runs, scanned for this node's residency
    /// reports (none: the executor's artifacts are not files here).
    pub artifacts: Option<crate::artifacts::ArtifactSource>,
    /// Where staging copies artifacts (none: into the models directory, if any).
    pub artifact_disk: Option<Arc<dyn crate::artifacts::ArtifactDisk>>,
    /// Least time between two publications of the state report into
    /// [`RunningNode::state`] while the state keeps moving (0: after every change).
    /// Building one digests the whole replicated state, so a large fleet keeps this
    /// above zero; [`NodeClient::state_report`] always answers fresh.
    pub state_watch_ms_min: u64,
    /// The SHA-256 of the executable this node runs, announced in its hellos (the
    /// binary sets it from its own measurement; none: not measured).
    pub binary: Option<psionic_core::attestation::BinaryDigest>,
}

/// Default of [`NodeSettings::state_watch_ms_min`].
pub const STATE_WATCH_MS_MIN_DEFAULT: u64 = 1_000;

/// Why a request was not dispatched.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The node refused it.
    #[error(transparent)]
    Refused(#[from] SubmitRefusal),

    /// The node stopped before answering.
    #[error("the node stopped before answering")]
    Stopped,
}

/// Why a request was not cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// The node would not cancel it.
    #[error(transparent)]
    Refused(#[from] CancelRefusal),
    /// The node stopped before answering.
    #[error("the node stopped before answering")]
    Stopped,
}

/// Why a node could not start. Nothing has been sent when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The identity file could not be used.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The discovery socket could not be bound.
    #[error(
        "cannot bind discovery socket {addr}: {source} (is another process using it? pick another `discovery_bind`)"
    )]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// A configuration value breaks a rule.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The durable consensus state could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a proposal through [`RunningNode::propose`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// The node rejected it (not the leader: the hint says who is), or another
    /// leader's entry was committed at its index.
    #[error(transparent)]
    Rejected(#[from] ProposalRejection),
    /// The node stopped before the outcome was known (it may still commit).
    #[error("node stopped before the proposal's outcome was known")]
    Unknown,
    /// The node was not running: nothing was proposed.
    #[error("the node is not running: nothing was proposed")]
    NotRunning,
}

/// Tokens of a streaming request as the executing node produced them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBatch {
    /// The executing node (a rerouted request's next run starts again at offset 0).
    pub node: NodeId,
    /// The number of the first token.
    pub offset: u32,
    /// The tokens.
    pub tokens: Vec<psionic_core::dispatch::Token>,
}

/// The tokens of a streaming request as they arrive, batch by batch.
pub type TokenBatches = mpsc::UnboundedReceiver<TokenBatch>;

/// How a read of the replicated state relates to the writes around it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// It holds every write committed before the read began (ReadIndex, through the
    /// leader and a quorum).
    #[default]
    Linearizable,
    /// What this node has applied, however far behind it may be.
    Serializable,
}

/// Why a read was not answered.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A linearizable read was refused (no leader, or the leader changed).
    #[error(transparent)]
    Refused(#[from] psionic_core::consensus::reads::ReadRefusal),
    /// The node stopped before it answered.
    #[error("node stopped before the read was answered")]
    Stopped,
}

/// A proposal committed and applied on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The proposal.
    pub id: ProposalId,
    /// Its index.
    pub index: u64,
    /// Why applying it changed nothing, if it did not take effect.
    pub refusal: Option<ApplyRefusal>,
}

/// A started node.
#[derive(Debug)]
pub struct RunningNode {
    /// Its id.
    pub node_id: NodeId,
    /// The epoch of this life (already durable).
    pub epoch: NodeEpoch,
    /// Where discovery listens.
    pub discovery_addr: SocketAddr,
    /// Where the peer-stream listener listens.
    pub stream_addr: SocketAddr,
    /// A recent replicated-state report: republished when the state moves, at most
    /// every [`NodeSettings::state_watch_ms_min`] (and at least every second).
    pub state: watch::Receiver<StateReport>,
    /// The driver's counters, updated after every input that reported an event.
    pub metrics: watch::Receiver<NodeMetrics>,
    /// What became of the connections to the peer-stream listener.
    pub peer_streams: Arc<stream::StreamCounters>,
    /// Its identity file: the key it speaks with, and the one a rotation stages.
    pub identity_file: IdentityFile,
    /// What its models directory holds, as last scanned (none without one).
    pub models: Option<Arc<crate::artifacts::Models>>,
    client: NodeClient,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), StoreError>>,
}

/// A cheap, clonable handle for proposing to a running node.
#[derive(Debug, Clone)]
pub struct NodeClient {
    requests: mpsc::Sender<Request>,
}

impl RunningNode {
    /// A handle for proposing from elsewhere.
    pub fn client(&self) -> NodeClient {
        self.client.clone()
    }

    /// See [`NodeClient::propose`].
    pub async fn propose(&self, commands: Vec<ClusterCommand>) -> Result<Vec<Committed>, ProposeError> {
        self.client.propose(commands).await
    }

    /// See [`NodeClient::transfer_leadership`].
    pub async fn transfer_leadership(&self) -> Option<NodeId> {
        self.client.transfer_leadership().await
    }

    /// Stops the driver and waits for it; reports a storage failure that stopped it.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        let _ = self.shutdown.send(true);
        self.task.await.unwrap_or(Ok(()))
    }
}

impl NodeClient {
    /// Proposes `commands` as one batch, as this node's local operator (credential
    /// `local`), and waits until each is committed and applied on this node; returns
    /// their ids and indexes.
    pub async fn propose(&self, commands: Vec<ClusterCommand>) -> Result<Vec<Committed>, ProposeError> {
        let local = |command: ClusterCommand| (Origin::operator(LOCAL_CREDENTIAL, &command), command);
        self.propose_as(commands.into_iter().map(local).collect()).await
    }

    /// As [`Self::propose`], each command with the origin given.
    pub async fn propose_as(&self, commands: Vec<(Origin, ClusterCommand)>) -> Result<Vec<Committed>, ProposeError> {
        self.proposed(commands, false).await
    }

    /// As [`Self::propose_as`], forwarded to the leader when this node does not lead
    /// (see [`psionic_core::Node::propose_through_leader`]): answered once applied here.
    pub async fn propose_through_leader(
        &self,
        commands: Vec<(Origin, ClusterCommand)>,
    ) -> Result<Vec<Committed>, ProposeError> {
        self.proposed(commands, true).await
    }

    async fn proposed(
        &self,
        commands: Vec<(Origin, ClusterCommand)>,
        through_leader: bool,
    ) -> Result<Vec<Committed>, ProposeError> {
        let (reply, answer) = oneshot::channel();
        let request = Request::Propose {
            commands,
            through_leader,
            reply,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| ProposeError::NotRunning)?;
        let taken = answer.await.map_err(|_| ProposeError::Unknown)?;
        let mut committed = Vec::with_capacity(taken.len());
        for (id, outcome) in taken {
            let (index, refusal) = outcome.await.map_err(|_| ProposeError::Unknown)??;
            committed.push(Committed { id, index, refusal });
        }
        Ok(committed)
    }

    /// Leader: sends `decision` to `to` under this leadership's authority (fence and
    /// digest); returns the authority. A receiver refuses it once it has seen a newer
    /// fence.
    pub async fn issue_decision(&self, to: NodeId, decision: Decision) -> Result<Authority, ProposeError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::IssueDecision { to, decision, reply })
            .await
            .map_err(|_| ProposeError::Unknown)?;
        Ok(answer.await.map_err(|_| ProposeError::Unknown)??)
    }

    /// Leader: places and dispatches `request`; returns its placement and a receiver
    /// of its outcome (dropped unanswered if the node stops first).
    pub async fn submit_inference(
        &self,
        request: InferenceRequest,
    ) -> Result<(Option<Placement>, oneshot::Receiver<RequestOutcome>), SubmitError> {
        self.submitted(request, false, None).await
    }

    /// As [`Self::submit_inference`], forwarded to the leader when this node does not
    /// lead (see [`psionic_core::Node::submit_request_through_leader`]).
    pub async fn submit_inference_through_leader(
        &self,
        request: InferenceRequest,
    ) -> Result<(Option<Placement>, oneshot::Receiver<RequestOutcome>), SubmitError> {
        self.submitted(request, true, None).await
    }

    /// As [`Self::submit_inference_through_leader`], with a receiver of its tokens
    /// as the executing node produces them, for a request that streams.
    #[allow(clippy::type_complexity)]
    pub async fn submit_streaming_through_leader(
        &self,
        request: InferenceRequest,
    ) -> Result<(Option<Placement>, oneshot::Receiver<RequestOutcome>, TokenBatches), SubmitError> {
        let (sink, batches) = mpsc::unbounded_channel();
        let (placement, outcome) = self.submitted(request, true, Some(sink)).await?;
        Ok((placement, outcome, batches))
    }

    async fn submitted(
        &self,
        request: InferenceRequest,
        through_leader: bool,
        tokens: Option<crate::driver::TokenSink>,
    ) -> Result<(Option<Placement>, oneshot::Receiver<RequestOutcome>), SubmitError> {
        let (reply, answer) = oneshot::channel();
        let request = Request::SubmitInference {
            request,
            through_leader,
            tokens,
            reply,
        };
        self.requests.send(request).await.map_err(|_| SubmitError::Stopped)?;
        Ok(answer.await.map_err(|_| SubmitError::Stopped)??)
    }

    /// The placement `request` would get now, dispatching nothing (`None`: the node
    /// stopped first).
    pub async fn plan(&self, request: PlanRequest) -> Option<Result<Placement, PlacementRefusal>> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Plan { request, reply }).await.ok()?;
        answer.await.ok()
    }

    /// Leader: cancels an in-flight request (its executing node stops it).
    pub async fn cancel_inference(&self, request: RequestId) -> Result<(), CancelError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::CancelInference { request, reply })
            .await
            .map_err(|_| CancelError::Stopped)?;
        Ok(answer.await.map_err(|_| CancelError::Stopped)??)
    }

    /// Replaces the admission tokens the node holds with those of `posture` (trusted
    /// LAN; another posture changes nothing). False: the node stopped.
    pub async fn replace_admission_tokens(&self, posture: TrustPosture) -> bool {
        let TrustPosture::TrustedLan { token, next } = posture else {
            return true;
        };
        self.requests
            .send(Request::ReplaceAdmissionTokens { token, next })
            .await
            .is_ok()
    }

    /// Stages the key of `secret_key` (already kept in the identity file) as this
    /// node's next, and returns the rotation record to commit (`None`: the node
    /// stopped).
    pub async fn stage_key(
        &self,
        secret_key: [u8; 32],
    ) -> Option<Result<psionic_core::state::KeyRotation, psionic_core::state::RotationProblem>> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::StageKey { secret_key, reply }).await.ok()?;
        answer.await.ok()
    }

    /// Tells the node its disk holds these artifacts, as a scan of its models directory
    /// would (it reports its own residency of each). False: the node stopped.
    pub async fn hold_artifacts(&self, held: std::collections::BTreeMap<psionic_core::Digest, Residency>) -> bool {
        self.requests.send(Request::HoldArtifacts(held)).await.is_ok()
    }

    /// This node's status, as of now (`None`: the node stopped).
    pub async fn status(&self) -> Option<NodeStatus> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Status { reply }).await.ok()?;
        answer.await.ok()
    }

    /// This node's view of the replicated state, as of now (`None`: the node stopped).
    pub async fn state_report(&self) -> Option<StateReport> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::StateReport { reply }).await.ok()?;
        answer.await.ok()
    }

    /// The replicated state read with `consistency`: as applied here now
    /// (serializable), or once a linearizable read lets it be.
    pub async fn read_state(&self, consistency: Consistency) -> Result<StateReport, ReadError> {
        if consistency == Consistency::Serializable {
            return self.state_report().await.ok_or(ReadError::Stopped);
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::LinearizableState { reply })
            .await
            .map_err(|_| ReadError::Stopped)?;
        answer
            .await
            .map_err(|_| ReadError::Stopped)?
            .map_err(ReadError::Refused)
    }

    /// Leader: hands leadership to the most up-to-date voter. Returns it.
    pub async fn transfer_leadership(&self) -> Option<NodeId> {
        self.transfer_leadership_to(None).await.ok()
    }

    /// Leader: hands leadership to `to` (or the most up-to-date other voter); the
    /// voter asked to take over. `Err(None)`: the node stopped first.
    pub async fn transfer_leadership_to(&self, to: Option<NodeId>) -> Result<NodeId, Option<TransferRefusal>> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::TransferLeadership { to, reply })
            .await
            .map_err(|_| None)?;
        answer.await.map_err(|_| None)?.map_err(Some)
    }
}

/// Loads and advances the identity (durably), recovers the consensus state, binds the
/// discovery socket, and spawns the driver. The node speaks only after its new epoch
/// is on disk.
pub async fn start(settings: NodeSettings, observer: Arc<dyn Observer>) -> Result<RunningNode, StartError> {
    settings.discovery.validate().map_err(psionic_core::ConfigError::from)?;
    let identity_file = IdentityFile::in_dir(&settings.data_dir);
    let models = settings.artifacts.as_ref().map(|source| Arc::clone(&source.models));
    let artifact_disk = settings.artifact_disk.clone().or_else(|| {
        let source = settings.artifacts.as_ref()?;
        let disk = crate::artifacts::ModelsDisk::new(source.dir.clone(), Arc::clone(&source.models));
        Some(Arc::new(std::sync::Mutex::new(disk)) as Arc<dyn crate::artifacts::ArtifactDisk>)
    });
    identity_file.load().await?;
    let socket = UdpSocket::bind(settings.discovery_bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: settings.discovery_bind,
            source,
        })?;
    let discovery_addr = socket.local_addr().map_err(|source| StartError::Bind {
        addr: settings.discovery_bind,
        source,
    })?;
    let stream_bind = SocketAddr::new(discovery_addr.ip(), settings.stream_port);
    let listener = tokio::net::TcpListener::bind(stream_bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: stream_bind,
            source,
        })?;
    let stream_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: stream_bind,
        source,
    })?;
    let (store, durable) = DurableStore::open(&settings.data_dir).await?;
    let stored = identity_file
        .load_and_advance(crate::identity_file::epoch_floor())
        .await?;
    let identity = stored.identity();
    let (node_id, epoch) = (identity.node_id(), identity.epoch());
    if let Some(snapshot) = &durable.snapshot {
        // A node stopped between making a snapshot durable and reporting it reports
        // it now.
        observer.on_snapshot_persisted(node_id, &snapshot.meta);
    }
    let config = NodeConfig {
        cluster_id: ClusterId::derive(&settings.namespace, &settings.cluster_genesis),
        namespace: settings.namespace,
        identity,
        role: settings.role,
        posture: settings.posture,
        seeds: settings.seeds,
        discovery: settings.discovery,
        rng_seed: entropy::random_u64(),
        stream_port: Some(stream_addr.port()),
        consensus: settings.consensus,
        durable,
        binary: settings.binary,
    };
    let mut core = Node::new(config, settings.clock.now())?;
    core.set_mutations(settings.mutations);
    if let Some(staged) = stored.staged_key {
        // A rotation the log already applied is taken at once; otherwise the key
        // stays staged until its record commits (or another is staged).
        let _ = core.stage_key(settings.clock.now(), staged);
    }
    let (state_tx, state) = watch::channel(core.state_report(settings.clock.now()));
    let (metrics_out, metrics) = watch::channel(NodeMetrics::default());
    let peer_streams = Arc::new(stream::StreamCounters::default());
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (requests, requests_rx) = mpsc::channel(64);
    if settings.artifacts.is_none() && settings.artifact_disk.is_none() {
        report_held_models(settings.executor.as_ref(), &requests);
    }
    let (inbound, inbound_rx) = mpsc::channel(1024);
    let (datagrams, datagrams_rx) = mpsc::channel(udp::DATAGRAMS_QUEUED_MAX);
    let socket = Arc::new(socket);
    observer.on_start(node_id, epoch);
    let driver = Driver {
        core,
        _datagram_receiver: udp::spawn_receiver(socket.clone(), datagrams),
        socket,
        datagrams: datagrams_rx,
        store,
        clock: settings.clock.clone(),
        observer,
        state: state_tx,
        shutdown: shutdown_rx,
        requests: requests_rx,
        waiters: Default::default(),
        identity_file: identity_file.clone(),
        reads: Default::default(),
        metrics: NodeMetrics::default(),
        metrics_out,
        term_span: None,
        inbound: inbound_rx,
        outbound: Outbound::default(),
        _acceptor: Some(stream::spawn_acceptor(listener, inbound, peer_streams.clone())),
        _device_reporter: Some(devices::spawn_reporter(
            settings.devices,
            Arc::clone(&settings.executor),
            requests.clone(),
        )),
        _artifact_scanner: settings.artifacts.clone().map(|source| {
            let scanner = crate::artifacts::Scanner::new(source.dir);
            crate::artifacts::spawn_scanner(scanner, source.models, source.scan_interval_ms, requests.clone())
        }),
        staging: crate::artifacts::StagingWorker::spawn(artifact_disk, requests.clone()),
        state_published_at: tokio::time::Instant::now(),
        state_watch_min: std::time::Duration::from_millis(settings.state_watch_ms_min),
        serving: Serving::new(settings.executor.clone(), requests.clone()),
    };
    let span = tracing::info_span!("node", id = %node_id, epoch = epoch.0);
    let task = tokio::spawn(
        async move {
            let result = driver.run().await;
            if let Err(error) = &result {
                tracing::error!(%error, "node stopped: durable storage failed");
            }
            result
        }
        .instrument(span),
    );
    Ok(RunningNode {
        node_id,
        epoch,
        discovery_addr,
        stream_addr,
        state,
        metrics,
        peer_streams,
        identity_file,
        models,
        client: NodeClient { requests },
        shutdown,
        task,
    })
}

/// A node without a models directory or disk reports the models its executor holds
/// resident itself (residency is only ever what a node reports of itself), and,
/// holding none, that it holds none: a record left from before is reported evicted.
fn report_held_models(executor: &dyn crate::execute::Executor, requests: &mpsc::Sender<Request>) {
    let held = executor.held_models();
    let resident = held
        .into_iter()
        .map(|artifact| (artifact, Residency::Resident))
        .collect();
    requests
        .try_send(Request::HoldArtifacts(resident))
        .expect("the request queue is empty before the driver starts");
}

//! Execution backends and what a node declares about them.
//!
//! Two kinds of fact, kept apart on purpose:
//! - readiness (which backends can serve, with which devices) is committed through the
//!   log whenever a node's own view of it changes, so every node plans from the same
//!   facts;
//! - telemetry (free device memory, queue depth) is soft: it rides on append responses
//!   to the leader and is never replicated.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::identity::NodeId;

/// Most devices one node may declare for one backend.
pub const DEVICES_PER_BACKEND_MAX: usize = 64;

/// An execution backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// The CPU: always ready.
    Cpu,
    /// NVIDIA GPUs through the CUDA driver.
    Cuda,
    /// Apple GPUs: declared for completeness, refused for cluster execution.
    Metal,
}

/// The CUDA driver calls a device probe makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriverCall {
    /// `cuDriverGetVersion`.
    DriverGetVersion,
    /// `cuDeviceGetCount`.
    DeviceGetCount,
    /// `cuDevicePrimaryCtxRetain`.
    PrimaryContextRetain,
    /// `cuDeviceGetAttribute` (compute capability).
    DeviceGetAttribute,
    /// `cuMemGetInfo`.
    MemGetInfo,
    /// `cuDeviceGetUuid`.
    DeviceGetUuid,
    /// `cuDeviceGetName`.
    DeviceGetName,
}

/// Why a backend cannot serve on a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum BackendRefusal {
    /// The driver library (`libcuda`) is not installed or cannot be loaded.
    #[error("no CUDA driver: libcuda could not be loaded")]
    NoDriver,
    /// The driver is there but reports no device.
    #[error("the CUDA driver reports no device")]
    NoDevice,
    /// The driver is older than this build needs (`1000 * major + 10 * minor`).
    #[error("CUDA driver {found} is older than the {required} required")]
    DriverTooOld {
        /// Its version.
        found: i32,
        /// The minimum.
        required: i32,
    },
    /// A driver call failed.
    #[error("CUDA driver call {call:?} failed with CUresult {code}")]
    DriverError {
        /// The call.
        call: DriverCall,
        /// The driver's `CUresult`.
        code: i32,
    },
    /// The backend exists on the node but the cluster does not execute on it.
    #[error("backend {backend:?} is not supported for cluster execution")]
    NotForClusterExecution {
        /// The backend.
        backend: Backend,
    },
    /// A library the CUDA executor needs cannot be loaded.
    #[error("the CUDA library {library:?} could not be loaded (install it, or put its directory on LD_LIBRARY_PATH)")]
    NoLibrary {
        /// The library.
        library: CudaLibrary,
    },
    /// NVRTC did not compile the executor's kernels (`nvrtcResult`).
    #[error("NVRTC could not compile the kernels: nvrtcResult {code}")]
    Kernels {
        /// NVRTC's result code.
        code: i32,
    },
    /// The device failed while the executor tested itself.
    #[error("the device failed in {operation:?} with code {code}")]
    Device {
        /// What it was doing.
        operation: DeviceOperation,
        /// The driver's or library's status code.
        code: i32,
    },
    /// The executor's self-test on the device disagreed with the CPU's logits by more
    /// than the bound (largest absolute difference, in millionths).
    #[error(
        "the device's logits differ from the CPU's by {error_millionths} millionths; at most {allowed_millionths} allowed"
    )]
    SelfTest {
        /// The largest difference measured.
        error_millionths: u64,
        /// The most allowed.
        allowed_millionths: u64,
    },
}

/// The CUDA libraries the executor loads at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CudaLibrary {
    /// cuBLAS (matrix products).
    Cublas,
    /// NVRTC (compiles the kernels).
    Nvrtc,
}

/// What a device was doing when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceOperation {
    /// Opening its context, stream or library handle.
    Open,
    /// Allocating or copying memory.
    Memory,
    /// Running a kernel.
    Kernel,
    /// A matrix product.
    MatrixProduct,
}

/// One device as declared in the log: the facts that do not change while it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceProfile {
    /// Its ordinal on the node.
    pub ordinal: u32,
    /// The driver's name for it.
    pub name: String,
    /// Its UUID (`GPU-xxxxxxxx-...` for CUDA).
    pub uuid: String,
    /// Device memory.
    pub total_memory_bytes: u64,
    /// Compute capability (major, minor).
    pub compute_capability: (u32, u32),
}

/// A way of running inference across the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lane {
    /// One node runs the whole request.
    WholeRequest,
    /// One of a model's warm replicas runs the whole request.
    Replicated,
    /// Consecutive layers on consecutive nodes (pipeline).
    LayerSharded,
    /// Every layer split along the tensor axis over a mesh of nodes.
    TensorSharded,
}

impl Lane {
    /// The communication class a node must declare to take part in this lane.
    pub const fn required_communication(self) -> CommunicationClass {
        match self {
            Lane::WholeRequest | Lane::Replicated => CommunicationClass::RemoteDispatch,
            Lane::LayerSharded => CommunicationClass::PipelineHandoff,
            Lane::TensorSharded => CommunicationClass::TensorCollective,
        }
    }
}

/// What a node can exchange with its peers while executing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommunicationClass {
    /// Receive a request, return its result.
    RemoteDispatch,
    /// Send activations and KV state to the next pipeline stage.
    PipelineHandoff,
    /// Take part in all-reduce collectives over a mesh.
    TensorCollective,
}

/// What a node's executor declares it can run on one backend.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionProfile {
    /// Lanes it runs.
    pub lanes: BTreeSet<Lane>,
    /// Communication it supports.
    pub communication: BTreeSet<CommunicationClass>,
}

impl ExecutionProfile {
    /// Whole requests and replica-routed requests, by remote dispatch.
    pub fn dispatch() -> Self {
        Self::of(&[Lane::WholeRequest, Lane::Replicated])
    }

    /// Every lane, with the communication each needs.
    pub fn every_lane() -> Self {
        Self::of(&[
            Lane::WholeRequest,
            Lane::Replicated,
            Lane::LayerSharded,
            Lane::TensorSharded,
        ])
    }

    /// The given lanes, with the communication each needs.
    pub fn of(lanes: &[Lane]) -> Self {
        Self {
            lanes: lanes.iter().copied().collect(),
            communication: lanes.iter().map(|lane| lane.required_communication()).collect(),
        }
    }

    /// Whether `lane` can run here: declared, with the communication it needs.
    pub fn check(&self, lane: Lane) -> Result<(), ProfileShortfall> {
        if !self.lanes.contains(&lane) {
            return Err(ProfileShortfall::Lane { lane });
        }
        let class = lane.required_communication();
        if !self.communication.contains(&class) {
            return Err(ProfileShortfall::Communication { lane, class });
        }
        Ok(())
    }
}

/// What a declared profile lacks for a lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileShortfall {
    /// The lane is not declared.
    Lane {
        /// The lane.
        lane: Lane,
    },
    /// The lane is declared without the communication class it needs.
    Communication {
        /// The lane.
        lane: Lane,
        /// The class it needs.
        class: CommunicationClass,
    },
}

/// Whether a backend can serve on a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendReadiness {
    /// Ready, with these devices (none for the CPU) and this execution profile.
    Ready {
        /// Devices in ordinal order.
        devices: Vec<DeviceProfile>,
        /// What the node's executor runs on this backend.
        profile: ExecutionProfile,
    },
    /// Refused, with the reason.
    Refused {
        /// Why.
        reason: BackendRefusal,
    },
}

impl BackendReadiness {
    /// Whether the backend can serve.
    pub fn is_ready(&self) -> bool {
        matches!(self, BackendReadiness::Ready { .. })
    }

    /// The CPU's readiness: always ready, no devices, nothing declared to run yet.
    pub fn cpu() -> Self {
        BackendReadiness::Ready {
            devices: Vec::new(),
            profile: ExecutionProfile::default(),
        }
    }

    /// What this readiness becomes in the cluster's record: Metal is refused for
    /// cluster execution whatever the node says about it.
    pub fn for_cluster(self, backend: Backend) -> Self {
        match (backend, self) {
            (Backend::Metal, BackendReadiness::Ready { .. }) => BackendReadiness::Refused {
                reason: BackendRefusal::NotForClusterExecution { backend },
            },
            (_, readiness) => readiness,
        }
    }
}

/// A node's readiness, backend by backend.
pub type ReadinessByBackend = BTreeMap<Backend, BackendReadiness>;

/// Most measured links one telemetry report carries.
pub const LINKS_PER_REPORT_MAX: usize = 256;

/// A link's measured round trip and bandwidth, as the node at one end saw them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkTelemetry {
    /// Round trip of discovery probes, smoothed.
    pub rtt_us: u32,
    /// Bandwidth of the authenticated peer stream, smoothed (none until measured).
    pub bandwidth_mbps: Option<u32>,
}

/// Soft facts a node reports about itself on every append response. Never logged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Telemetry {
    /// Free memory of each CUDA device, in ordinal order.
    pub free_memory_bytes: Vec<u64>,
    /// Requests waiting to run.
    pub queue_depth: u32,
    /// Links to reachable peers this node measured, at most [`LINKS_PER_REPORT_MAX`].
    pub links: BTreeMap<NodeId, LinkTelemetry>,
}

/// What the driver tells the core about the node's backends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceReport {
    /// Readiness as probed here now; committed by the leader when it differs from the
    /// cluster's record.
    pub readiness: ReadinessByBackend,
    /// Soft telemetry.
    pub telemetry: Telemetry,
}

impl DeviceReport {
    /// This report with each backend in `refusals` that was probed ready refused for
    /// the reason given (the executor found it cannot run there).
    pub fn with_refusals(mut self, refusals: &BTreeMap<Backend, BackendRefusal>) -> Self {
        for (backend, reason) in refusals {
            if let Some(readiness @ BackendReadiness::Ready { .. }) = self.readiness.get_mut(backend) {
                *readiness = BackendReadiness::Refused { reason: reason.clone() };
            }
        }
        self
    }

    /// This report with each ready backend's profile replaced by what `profiles`
    /// declares for it (an empty profile when it declares nothing), a backend only
    /// the executor claims (no driver probes it) declared ready without devices, and
    /// Metal refused.
    pub fn with_profiles(mut self, profiles: &BTreeMap<Backend, ExecutionProfile>) -> Self {
        for backend in profiles.keys() {
            self.readiness.entry(*backend).or_insert_with(BackendReadiness::cpu);
        }
        self.readiness = self
            .readiness
            .into_iter()
            .map(|(backend, mut readiness)| {
                if let BackendReadiness::Ready { profile, .. } = &mut readiness {
                    *profile = profiles.get(&backend).cloned().unwrap_or_default();
                }
                (backend, readiness.for_cluster(backend))
            })
            .collect();
        self
    }
}

/// What a follower attaches to each append response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatReport {
    /// Its telemetry, when it changed, for a new term or leader, or once a second
    /// (`TELEMETRY_REFRESH_MS`); absent, the leader keeps what it has, heard now.
    pub telemetry: Option<Telemetry>,
    /// Its readiness, sent only while the state it applied records another one.
    pub readiness_claim: Option<ReadinessByBackend>,
}

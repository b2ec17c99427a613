//! The model executor's CUDA devices: opened and self-tested once, the first time the
//! node asks what its executor runs, and each model uploaded once per device.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use psionic_core::Digest;
use psionic_core::backend::{Backend, BackendRefusal};
use psionic_core::dispatch::{ExecutionError, ModelRefusal};
use psionic_cuda::forward::{CudaDevice, DeviceModel, DeviceSession, self_test};
use psionic_model::Model;

use super::sequence::{Sequence, cuda_fault};

/// The devices this node runs models on, or why it runs none.
#[derive(Debug, Default)]
pub(super) struct CudaModels {
    devices: OnceLock<Result<BTreeMap<u32, Arc<CudaDevice>>, BackendRefusal>>,
    uploaded: Mutex<BTreeMap<(Digest, u32), Arc<DeviceModel>>>,
    /// The first fault a device gave while running a request: its context may be
    /// unusable, so the node stops declaring CUDA (until it restarts).
    faulted: Mutex<Option<BackendRefusal>>,
}

impl CudaModels {
    /// Why CUDA runs nothing here, if it does not: its devices did not open or pass
    /// their self-test, or one faulted since.
    pub(super) fn refusal(&self) -> Option<BackendRefusal> {
        let faulted = self.faulted.lock().unwrap_or_else(PoisonError::into_inner).clone();
        faulted.or_else(|| self.devices().as_ref().err().cloned())
    }

    /// Notes that a device faulted while running a request (a failed allocation at
    /// the start of one is not noted: too little memory leaves the device usable).
    pub(super) fn note_fault(&self, fault: psionic_cuda::forward::DeviceFault) {
        let mut faulted = self.faulted.lock().unwrap_or_else(PoisonError::into_inner);
        if faulted.is_none() {
            tracing::error!(?fault, "a CUDA device faulted; the node stops declaring CUDA");
            *faulted = Some(fault.into());
        }
    }

    /// Every device the driver reports, each opened and self-tested (the first
    /// failure refuses the backend).
    pub(super) fn devices(&self) -> &Result<BTreeMap<u32, Arc<CudaDevice>>, BackendRefusal> {
        self.devices.get_or_init(|| {
            let inventory = psionic_cuda::probe()?;
            let mut devices = BTreeMap::new();
            for info in &inventory.devices {
                let device = CudaDevice::open(info.ordinal)?;
                let error_millionths = self_test(&device)?;
                tracing::info!(
                    ordinal = info.ordinal,
                    error_millionths,
                    "cuda device passed its self-test"
                );
                devices.insert(info.ordinal, device);
            }
            Ok(devices)
        })
    }

    /// A sequence of `capacity` positions of `model` on device `ordinal`.
    pub(super) fn sequence(
        self: &Arc<Self>,
        artifact: Digest,
        model: &Model,
        ordinal: u32,
        capacity: usize,
    ) -> Result<Sequence, ExecutionError> {
        let not_here = ExecutionError::Backend { backend: Backend::Cuda };
        let device = match self.devices() {
            Ok(devices) => devices.get(&ordinal).ok_or(not_here)?,
            Err(_) => return Err(not_here),
        };
        let uploaded = {
            let mut uploaded = self.uploaded.lock().unwrap_or_else(PoisonError::into_inner);
            match uploaded.get(&(artifact, ordinal)) {
                Some(model) => Arc::clone(model),
                None => {
                    let fresh =
                        DeviceModel::upload(device, model).map_err(|fault| ExecutionError::from(cuda_fault(fault)))?;
                    uploaded.insert((artifact, ordinal), Arc::clone(&fresh));
                    fresh
                }
            }
        };
        match DeviceSession::new(uploaded, capacity) {
            Ok(session) => Ok(Sequence::Cuda(Box::new(session), Arc::clone(self))),
            Err(psionic_cuda::forward::ForwardError::Device(fault)) => Err(cuda_fault(fault).into()),
            Err(psionic_cuda::forward::ForwardError::Model(_)) => Err(ModelRefusal::TooLong {
                asked: capacity as u64,
                max: model.config.max_position_embeddings as u64,
            }
            .into()),
        }
    }
}

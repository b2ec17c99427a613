//! A model's weights on one device, uploaded once and shared by its sessions.

use std::sync::Arc;

use cudarc::driver::CudaSlice;
use ndarray::{Array1, Array2};
use psionic_model::{LlamaConfig, Model};

use super::{CudaDevice, DeviceFault, memory_fault};

/// One block's weights on the device, row-major as on the host.
#[derive(Debug)]
pub(super) struct DeviceLayer {
    pub attn_norm: CudaSlice<f32>,
    pub wq: CudaSlice<f32>,
    pub wk: CudaSlice<f32>,
    pub wv: CudaSlice<f32>,
    pub wo: CudaSlice<f32>,
    pub ffn_norm: CudaSlice<f32>,
    pub w_gate: CudaSlice<f32>,
    pub w_up: CudaSlice<f32>,
    pub w_down: CudaSlice<f32>,
}

/// A model on one device.
#[derive(Debug)]
pub struct DeviceModel {
    pub(super) device: Arc<CudaDevice>,
    pub(super) config: LlamaConfig,
    pub(super) embed: CudaSlice<f32>,
    pub(super) layers: Vec<DeviceLayer>,
    pub(super) norm: CudaSlice<f32>,
    /// The output projection; none when tied to `embed`.
    pub(super) lm_head: Option<CudaSlice<f32>>,
}

impl DeviceModel {
    /// Uploads `model`'s weights to `device`.
    pub fn upload(device: &Arc<CudaDevice>, model: &Model) -> Result<Arc<Self>, DeviceFault> {
        let stream = &device.stream;
        let matrix = |array: &Array2<f32>| {
            stream
                .clone_htod(array.as_standard_layout().as_slice().expect("standard layout"))
                .map_err(memory_fault)
        };
        let vector = |array: &Array1<f32>| {
            stream
                .clone_htod(array.as_standard_layout().as_slice().expect("standard layout"))
                .map_err(memory_fault)
        };
        let weights = &model.weights;
        let layers = weights
            .layers
            .iter()
            .map(|layer| {
                Ok(DeviceLayer {
                    attn_norm: vector(&layer.attn_norm)?,
                    wq: matrix(&layer.wq)?,
                    wk: matrix(&layer.wk)?,
                    wv: matrix(&layer.wv)?,
                    wo: matrix(&layer.wo)?,
                    ffn_norm: vector(&layer.ffn_norm)?,
                    w_gate: matrix(&layer.w_gate)?,
                    w_up: matrix(&layer.w_up)?,
                    w_down: matrix(&layer.w_down)?,
                })
            })
            .collect::<Result<Vec<_>, DeviceFault>>()?;
        Ok(Arc::new(Self {
            device: Arc::clone(device),
            config: model.config.clone(),
            embed: matrix(&weights.embed)?,
            layers,
            norm: vector(&weights.norm)?,
            lm_head: weights.lm_head.as_ref().map(matrix).transpose()?,
        }))
    }

    /// The output projection, `[vocab, hidden]`.
    pub(super) fn output(&self) -> &CudaSlice<f32> {
        self.lm_head.as_ref().unwrap_or(&self.embed)
    }

    /// The device it lives on.
    pub fn device(&self) -> &Arc<CudaDevice> {
        &self.device
    }
}

impl Drop for DeviceModel {
    /// Binds the device's context before the weights free.
    fn drop(&mut self) {
        super::launch::make_current(&self.device.stream);
    }
}

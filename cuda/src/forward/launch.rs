//! The unsafe edge of the forward pass: kernel launches and cuBLAS products. Each
//! method checks every buffer's length against the sizes it launches with, so the
//! kernels never read or write past a buffer.
#![allow(unsafe_code)]

use std::sync::Arc;

use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, CudaView, CudaViewMut, LaunchConfig, PushKernelArg};
use psionic_core::backend::DeviceOperation;

use super::DeviceFault;

/// Threads per block of the reducing kernels (`BLOCK` in `kernels.cu`).
pub(super) const BLOCK_THREADS: u32 = 256;

/// The compiled kernels of `kernels.cu`.
#[derive(Debug)]
pub(super) struct Kernels {
    pub embed: CudaFunction,
    pub rms_norm: CudaFunction,
    pub rope: CudaFunction,
    pub attention: CudaFunction,
    pub add: CudaFunction,
    pub swiglu: CudaFunction,
}

/// The shape of one attention launch: `rows` new positions from `first_position`,
/// over a cache of `capacity` rows.
#[derive(Clone, Copy, Debug)]
pub(super) struct AttentionShape {
    pub rows: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub first_position: usize,
    pub capacity: usize,
}

/// The device handles one forward pass launches with: the stream, the kernels, and
/// the cuBLAS handle bound to that stream (held under its lock).
#[derive(Clone, Copy, Debug)]
pub(super) struct Pass<'a> {
    pub stream: &'a Arc<CudaStream>,
    pub kernels: &'a Kernels,
    pub blas: &'a CudaBlas,
}

/// Makes `stream`'s context current on this thread, so that device buffers dropped
/// here are freed in their own context (cudarc frees without binding it; a request
/// cancelled from another thread drops its session there).
pub(super) fn make_current(stream: &CudaStream) {
    // SAFETY: the context outlives the stream that holds it; setting it current has
    // no other effect. A failure leaves the free to report its own error.
    let _ = unsafe { cudarc::driver::result::ctx::set_current(stream.context().cu_ctx()) };
}

fn blocks(grid: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (grid as u32, 1, 1),
        block_dim: (BLOCK_THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn kernel_fault(error: cudarc::driver::DriverError) -> DeviceFault {
    DeviceFault {
        operation: DeviceOperation::Kernel,
        code: error.0 as i32,
    }
}

impl Pass<'_> {
    /// `out[row] = table[tokens[row]]`; every token is below `vocab` (the caller
    /// checked).
    pub fn embed(
        self,
        (table, vocab, width): (&CudaSlice<f32>, usize, usize),
        tokens: &CudaView<'_, u32>,
        out: &mut CudaViewMut<'_, f32>,
    ) -> Result<(), DeviceFault> {
        assert!(table.len() >= vocab * width && out.len() >= tokens.len() * width);
        let width_arg = width as i32;
        let mut launch = self.stream.launch_builder(&self.kernels.embed);
        launch.arg(table).arg(tokens).arg(out).arg(&width_arg);
        // SAFETY: reads `width` floats of row `tokens[row] < vocab` of `table`, writes
        // `width` floats of each of `tokens.len()` rows of `out`; checked above.
        unsafe { launch.launch(blocks(tokens.len())) }.map_err(kernel_fault)?;
        Ok(())
    }

    /// RMSNorm of each of `rows` rows of `x` into `out`.
    pub fn rms_norm(
        self,
        (x, weight): (&CudaView<'_, f32>, &CudaSlice<f32>),
        out: &mut CudaViewMut<'_, f32>,
        (rows, width, eps): (usize, usize, f32),
    ) -> Result<(), DeviceFault> {
        assert!(x.len() >= rows * width && out.len() >= rows * width && weight.len() >= width);
        let width_arg = width as i32;
        let mut launch = self.stream.launch_builder(&self.kernels.rms_norm);
        launch.arg(x).arg(weight).arg(out).arg(&width_arg).arg(&eps);
        // SAFETY: reads `rows * width` floats of `x` and `width` of `weight`, writes
        // `rows * width` of `out`; checked above.
        unsafe { launch.launch(blocks(rows)) }.map_err(kernel_fault)?;
        Ok(())
    }

    /// Rotates the `heads` heads of each of `rows` rows of `x`, the first row at
    /// position `first_position`.
    pub fn rope(
        self,
        x: &mut CudaViewMut<'_, f32>,
        (rows, heads, head_dim): (usize, usize, usize),
        (first_position, theta): (usize, f32),
    ) -> Result<(), DeviceFault> {
        assert!(x.len() >= rows * heads * head_dim && head_dim % 2 == 0);
        let (heads_arg, head_dim_arg, first_arg) = (heads as i32, head_dim as i32, first_position as i32);
        let mut launch = self.stream.launch_builder(&self.kernels.rope);
        launch
            .arg(x)
            .arg(&heads_arg)
            .arg(&head_dim_arg)
            .arg(&first_arg)
            .arg(&theta);
        // SAFETY: touches `rows * heads * head_dim` floats of `x`; checked above.
        unsafe { launch.launch(blocks(rows)) }.map_err(kernel_fault)?;
        Ok(())
    }

    /// Causal grouped-query attention of `rows` queries over the cache into `out`.
    pub fn attention(
        self,
        (queries, keys, values): (&CudaView<'_, f32>, &CudaSlice<f32>, &CudaSlice<f32>),
        (scores, out): (&mut CudaSlice<f32>, &mut CudaViewMut<'_, f32>),
        shape: AttentionShape,
    ) -> Result<(), DeviceFault> {
        let AttentionShape {
            rows,
            heads,
            kv_heads,
            head_dim,
            first_position,
            capacity,
        } = shape;
        let q_width = heads * head_dim;
        let cache_floats = (first_position + rows) * kv_heads * head_dim;
        assert!(heads % kv_heads == 0 && first_position + rows <= capacity);
        assert!(queries.len() >= rows * q_width && out.len() >= rows * q_width);
        assert!(keys.len() >= cache_floats && values.len() >= cache_floats);
        assert!(scores.len() >= rows * heads * capacity);
        let ints = [heads, heads / kv_heads, head_dim, first_position, capacity].map(|value| value as i32);
        let scale = 1.0 / (head_dim as f32).sqrt();
        let mut launch = self.stream.launch_builder(&self.kernels.attention);
        launch.arg(queries).arg(keys).arg(values).arg(scores).arg(out);
        for int in &ints {
            launch.arg(int);
        }
        launch.arg(&scale);
        // SAFETY: block (row, head) reads its query and the first
        // `first_position + row + 1` cache rows, writes `capacity` scores of its own
        // and one head of `out`; the lengths are checked above.
        unsafe { launch.launch(blocks(rows * heads)) }.map_err(kernel_fault)?;
        Ok(())
    }

    /// `x[i] += y[i]` for `n` values.
    pub fn add(self, x: &mut CudaViewMut<'_, f32>, y: &CudaView<'_, f32>, n: usize) -> Result<(), DeviceFault> {
        self.elementwise(&self.kernels.add, x, y, n)
    }

    /// `gate[i] = silu(gate[i]) * up[i]` for `n` values.
    pub fn swiglu(self, gate: &mut CudaViewMut<'_, f32>, up: &CudaView<'_, f32>, n: usize) -> Result<(), DeviceFault> {
        self.elementwise(&self.kernels.swiglu, gate, up, n)
    }

    fn elementwise(
        self,
        function: &CudaFunction,
        x: &mut CudaViewMut<'_, f32>,
        y: &CudaView<'_, f32>,
        n: usize,
    ) -> Result<(), DeviceFault> {
        assert!(x.len() >= n && y.len() >= n);
        let n_arg = n as i32;
        let mut launch = self.stream.launch_builder(function);
        launch.arg(x).arg(y).arg(&n_arg);
        // SAFETY: thread i < n touches element i of each; checked above.
        unsafe { launch.launch(blocks(n.div_ceil(BLOCK_THREADS as usize))) }.map_err(kernel_fault)?;
        Ok(())
    }

    /// `out[rows, out_width] = x[rows, in_width] · weightᵀ`, `weight` being
    /// `[out_width, in_width]` row-major (read column-major, its transpose).
    pub fn project(
        self,
        x: &CudaView<'_, f32>,
        weight: &CudaSlice<f32>,
        out: &mut CudaViewMut<'_, f32>,
        (rows, in_width, out_width): (usize, usize, usize),
    ) -> Result<(), DeviceFault> {
        assert!(x.len() >= rows * in_width && weight.len() >= in_width * out_width);
        assert!(out.len() >= rows * out_width);
        let config = GemmConfig {
            transa: cublasOperation_t::CUBLAS_OP_T,
            transb: cublasOperation_t::CUBLAS_OP_N,
            m: out_width as i32,
            n: rows as i32,
            k: in_width as i32,
            alpha: 1.0f32,
            lda: in_width as i32,
            ldb: in_width as i32,
            beta: 0.0f32,
            ldc: out_width as i32,
        };
        // SAFETY: reads `out_width * in_width` floats of `weight` and `rows * in_width`
        // of `x`, writes `rows * out_width` of `out`; checked above.
        unsafe { self.blas.gemm(config, weight, x, out) }.map_err(|error| DeviceFault {
            operation: DeviceOperation::MatrixProduct,
            code: error.0 as i32,
        })
    }
}

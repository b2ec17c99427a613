//! One sequence on the device: its KV cache and the buffers one chunk of positions
//! needs, both allocated when it starts.

use std::sync::{Arc, PoisonError};

use cudarc::driver::CudaSlice;
use psionic_model::ModelError;

use super::launch::{AttentionShape, Pass, make_current};
use super::{DeviceFault, DeviceModel, memory_fault};

/// Most positions one pass over the layers takes; a longer prompt runs in chunks of
/// this many, which bounds the attention scores' buffer to `rows × heads × capacity`.
pub const PREFILL_CHUNK_ROWS: usize = 32;

/// Why a forward pass on the device failed.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The tokens do not fit the model or the sequence.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The device failed.
    #[error(transparent)]
    Device(#[from] DeviceFault),
}

/// The per-chunk buffers, each sized for `rows_max` rows.
#[derive(Debug)]
struct Scratch {
    tokens: CudaSlice<u32>,
    residual: CudaSlice<f32>,
    normed: CudaSlice<f32>,
    queries: CudaSlice<f32>,
    attended: CudaSlice<f32>,
    projected: CudaSlice<f32>,
    gate: CudaSlice<f32>,
    up: CudaSlice<f32>,
    scores: CudaSlice<f32>,
    logits: CudaSlice<f32>,
}

impl Scratch {
    /// RMSNorm of the stream's first `rows` rows into `normed`.
    fn norm_stream(
        &mut self,
        pass: Pass<'_>,
        weight: &CudaSlice<f32>,
        shape: (usize, usize, f32),
    ) -> Result<(), DeviceFault> {
        let stream = ..shape.0 * shape.1;
        pass.rms_norm(
            (&self.residual.slice(stream), weight),
            &mut self.normed.slice_mut(stream),
            shape,
        )
    }
}

/// One sequence being run on the device: the model and the keys and values of every
/// position so far (per layer `[capacity, kv_heads * head_dim]`, rows below
/// `positions` filled).
#[derive(Debug)]
pub struct DeviceSession {
    model: Arc<DeviceModel>,
    keys: Vec<CudaSlice<f32>>,
    values: Vec<CudaSlice<f32>>,
    scratch: Scratch,
    rows_max: usize,
    capacity: usize,
    positions: usize,
}

impl DeviceSession {
    /// A sequence of at most `capacity` positions.
    pub fn new(model: Arc<DeviceModel>, capacity: usize) -> Result<Self, ForwardError> {
        let config = &model.config;
        let max = config.max_position_embeddings;
        if capacity > max {
            return Err(ModelError::TooLong { asked: capacity, max }.into());
        }
        let stream = &model.device.stream;
        let zeros = |len: usize| stream.alloc_zeros::<f32>(len.max(1)).map_err(memory_fault);
        let kv_width = config.kv_heads() * config.head_dim();
        let q_width = config.num_attention_heads * config.head_dim();
        let rows_max = PREFILL_CHUNK_ROWS.min(capacity).max(1);
        let (hidden, ffn) = (config.hidden_size, config.intermediate_size);
        let scratch = Scratch {
            tokens: stream.alloc_zeros::<u32>(rows_max).map_err(memory_fault)?,
            residual: zeros(rows_max * hidden)?,
            normed: zeros(rows_max * hidden)?,
            queries: zeros(rows_max * q_width)?,
            attended: zeros(rows_max * q_width)?,
            projected: zeros(rows_max * hidden)?,
            gate: zeros(rows_max * ffn)?,
            up: zeros(rows_max * ffn)?,
            scores: zeros(rows_max * config.num_attention_heads * capacity)?,
            logits: zeros(config.vocab_size)?,
        };
        let layers = config.num_hidden_layers;
        let keys = (0..layers)
            .map(|_| zeros(capacity * kv_width))
            .collect::<Result<_, _>>()?;
        let values = (0..layers)
            .map(|_| zeros(capacity * kv_width))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            model,
            keys,
            values,
            scratch,
            rows_max,
            capacity,
            positions: 0,
        })
    }

    /// Positions the sequence holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Positions taken so far.
    pub fn positions(&self) -> usize {
        self.positions
    }

    /// Runs `tokens` as the sequence's next positions; returns the logits after the
    /// last of them.
    pub fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ForwardError> {
        let vocab_size = self.model.config.vocab_size;
        let asked = self.positions.saturating_add(tokens.len());
        if asked > self.capacity {
            return Err(ModelError::TooLong {
                asked,
                max: self.capacity,
            }
            .into());
        }
        if tokens.is_empty() {
            return Err(ModelError::EmptyPrompt.into());
        }
        if let Some(token) = tokens.iter().find(|token| **token as usize >= vocab_size) {
            return Err(ModelError::Token {
                token: *token,
                vocab_size,
            }
            .into());
        }
        let device = Arc::clone(&self.model.device);
        let blas = device.blas.lock().unwrap_or_else(PoisonError::into_inner);
        let pass = Pass {
            stream: &device.stream,
            kernels: &device.kernels,
            blas: &blas,
        };
        let mut last_rows = 0;
        for chunk in tokens.chunks(self.rows_max) {
            self.run_chunk(pass, chunk)?;
            last_rows = chunk.len();
        }
        Ok(self.logits(pass, last_rows)?)
    }

    /// Runs `chunk` (at most `rows_max` tokens, each in the vocabulary) through every
    /// layer, leaving its residual stream in the scratch buffer.
    fn run_chunk(&mut self, pass: Pass<'_>, chunk: &[u32]) -> Result<(), DeviceFault> {
        let model = Arc::clone(&self.model);
        let (rows, hidden) = (chunk.len(), model.config.hidden_size);
        let s = &mut self.scratch;
        pass.stream
            .memcpy_htod(chunk, &mut s.tokens.slice_mut(..rows))
            .map_err(memory_fault)?;
        let table = (&model.embed, model.config.vocab_size, hidden);
        pass.embed(
            table,
            &s.tokens.slice(..rows),
            &mut s.residual.slice_mut(..rows * hidden),
        )?;
        for layer in 0..model.layers.len() {
            self.attention_block(pass, layer, rows)?;
            self.feed_forward_block(pass, layer, rows)?;
        }
        self.positions += rows;
        Ok(())
    }

    /// Layer `index`'s attention for `rows` new positions: their keys and values
    /// written into the cache, the attended heads projected and added to the stream.
    fn attention_block(&mut self, pass: Pass<'_>, index: usize, rows: usize) -> Result<(), DeviceFault> {
        let model = Arc::clone(&self.model);
        let (config, layer) = (&model.config, &model.layers[index]);
        let (heads, kv_heads, head_dim) = (config.num_attention_heads, config.kv_heads(), config.head_dim());
        let (hidden, q_width, kv_width) = (config.hidden_size, heads * head_dim, kv_heads * head_dim);
        let (first, theta) = (self.positions, config.rope_theta);
        let (stream, queries) = (..rows * hidden, ..rows * q_width);
        let cache_rows = first * kv_width..(first + rows) * kv_width;
        let (s, keys, values) = (&mut self.scratch, &mut self.keys[index], &mut self.values[index]);
        s.norm_stream(pass, &layer.attn_norm, (rows, hidden, config.rms_norm_eps))?;
        let normed = s.normed.slice(stream);
        pass.project(
            &normed,
            &layer.wq,
            &mut s.queries.slice_mut(queries),
            (rows, hidden, q_width),
        )?;
        let kv_shape = (rows, hidden, kv_width);
        pass.project(&normed, &layer.wk, &mut keys.slice_mut(cache_rows.clone()), kv_shape)?;
        pass.project(&normed, &layer.wv, &mut values.slice_mut(cache_rows.clone()), kv_shape)?;
        pass.rope(
            &mut s.queries.slice_mut(queries),
            (rows, heads, head_dim),
            (first, theta),
        )?;
        pass.rope(
            &mut keys.slice_mut(cache_rows),
            (rows, kv_heads, head_dim),
            (first, theta),
        )?;
        let shape = AttentionShape {
            rows,
            heads,
            kv_heads,
            head_dim,
            first_position: first,
            capacity: self.capacity,
        };
        let outputs = (&mut s.scores, &mut s.attended.slice_mut(queries));
        pass.attention((&s.queries.slice(queries), keys, values), outputs, shape)?;
        let projected = &mut s.projected.slice_mut(stream);
        pass.project(
            &s.attended.slice(queries),
            &layer.wo,
            projected,
            (rows, q_width, hidden),
        )?;
        pass.add(
            &mut s.residual.slice_mut(stream),
            &s.projected.slice(stream),
            rows * hidden,
        )
    }

    /// Layer `index`'s SwiGLU feed-forward for `rows` positions, added to the stream.
    fn feed_forward_block(&mut self, pass: Pass<'_>, index: usize, rows: usize) -> Result<(), DeviceFault> {
        let model = Arc::clone(&self.model);
        let (config, layer) = (&model.config, &model.layers[index]);
        let (hidden, ffn) = (config.hidden_size, config.intermediate_size);
        let (stream, wide) = (..rows * hidden, ..rows * ffn);
        let s = &mut self.scratch;
        s.norm_stream(pass, &layer.ffn_norm, (rows, hidden, config.rms_norm_eps))?;
        let normed = s.normed.slice(stream);
        pass.project(&normed, &layer.w_gate, &mut s.gate.slice_mut(wide), (rows, hidden, ffn))?;
        pass.project(&normed, &layer.w_up, &mut s.up.slice_mut(wide), (rows, hidden, ffn))?;
        pass.swiglu(&mut s.gate.slice_mut(wide), &s.up.slice(wide), rows * ffn)?;
        let projected = &mut s.projected.slice_mut(stream);
        pass.project(&s.gate.slice(wide), &layer.w_down, projected, (rows, ffn, hidden))?;
        pass.add(
            &mut s.residual.slice_mut(stream),
            &s.projected.slice(stream),
            rows * hidden,
        )
    }

    /// The logits after row `last_rows - 1` of the last chunk.
    fn logits(&mut self, pass: Pass<'_>, last_rows: usize) -> Result<Vec<f32>, DeviceFault> {
        let model = Arc::clone(&self.model);
        let config = &model.config;
        let (hidden, vocab) = (config.hidden_size, config.vocab_size);
        let s = &mut self.scratch;
        let last = (last_rows - 1) * hidden..last_rows * hidden;
        let norm = (&s.residual.slice(last), &model.norm);
        pass.rms_norm(
            norm,
            &mut s.normed.slice_mut(..hidden),
            (1, hidden, config.rms_norm_eps),
        )?;
        let output = (1, hidden, vocab);
        pass.project(
            &s.normed.slice(..hidden),
            model.output(),
            &mut s.logits.slice_mut(..),
            output,
        )?;
        let logits = pass.stream.clone_dtoh(&s.logits).map_err(memory_fault)?;
        pass.stream.synchronize().map_err(memory_fault)?;
        Ok(logits)
    }
}

impl Drop for DeviceSession {
    /// Binds the device's context before the cache and buffers free (see
    /// [`make_current`]).
    fn drop(&mut self) {
        make_current(&self.model.device.stream);
    }
}

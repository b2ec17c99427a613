//! The CPU forward pass: each call takes the next tokens of one sequence, projects
//! them with matrix products, attends over the KV cache, and keeps their keys and
//! values for the tokens after them.

use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Slice};

use crate::{Model, ModelError};

/// One sequence being run: the model and the keys and values of every position so far.
#[derive(Debug)]
pub struct Session {
    model: Arc<Model>,
    /// Per layer, `[capacity, kv_heads * head_dim]` keys and values; rows below
    /// `positions` are filled.
    keys: Vec<Array2<f32>>,
    values: Vec<Array2<f32>>,
    positions: usize,
}

impl Session {
    /// A sequence of at most `capacity` positions (prompt and produced tokens).
    pub fn new(model: Arc<Model>, capacity: usize) -> Result<Self, ModelError> {
        let max = model.config.max_position_embeddings;
        if capacity > max {
            return Err(ModelError::TooLong { asked: capacity, max });
        }
        let kv_width = model.config.kv_heads() * model.config.head_dim();
        let cache = || vec![Array2::zeros((capacity, kv_width)); model.config.num_hidden_layers];
        Ok(Self {
            keys: cache(),
            values: cache(),
            positions: 0,
            model,
        })
    }

    /// Positions the sequence holds at most.
    pub fn capacity(&self) -> usize {
        self.keys.first().map_or(0, |keys| keys.nrows())
    }

    /// Positions taken so far.
    pub fn positions(&self) -> usize {
        self.positions
    }

    /// Runs `tokens` as the sequence's next positions; returns the logits after the
    /// last of them.
    pub fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        let config = &self.model.config;
        let capacity = self.keys.first().map_or(0, |keys| keys.nrows());
        let asked = self.positions.saturating_add(tokens.len());
        if asked > capacity {
            return Err(ModelError::TooLong { asked, max: capacity });
        }
        if tokens.is_empty() {
            return Err(ModelError::EmptyPrompt);
        }
        if let Some(token) = tokens.iter().find(|token| **token as usize >= config.vocab_size) {
            return Err(ModelError::Token {
                token: *token,
                vocab_size: config.vocab_size,
            });
        }
        let model = Arc::clone(&self.model);
        let weights = &model.weights;
        let mut stream = weights
            .embed
            .select(Axis(0), &tokens.iter().map(|t| *t as usize).collect::<Vec<_>>());
        for (index, layer) in weights.layers.iter().enumerate() {
            let normed = rms_norm_rows(&stream, &layer.attn_norm, config.rms_norm_eps);
            let mut queries = project(&normed, &layer.wq);
            let mut keys = project(&normed, &layer.wk);
            let values = project(&normed, &layer.wv);
            self.rope(&mut queries);
            self.rope(&mut keys);
            let rows = self.positions..self.positions + tokens.len();
            self.keys[index]
                .slice_axis_mut(Axis(0), Slice::from(rows.clone()))
                .assign(&keys);
            self.values[index]
                .slice_axis_mut(Axis(0), Slice::from(rows))
                .assign(&values);
            let attended = self.attend(index, &queries);
            stream += &project(&attended, &layer.wo);
            let normed = rms_norm_rows(&stream, &layer.ffn_norm, config.rms_norm_eps);
            let mut gate = project(&normed, &layer.w_gate);
            let up = project(&normed, &layer.w_up);
            gate.zip_mut_with(&up, |g, u| *g = *g / (1.0 + (-*g).exp()) * u);
            stream += &project(&gate, &layer.w_down);
        }
        self.positions += tokens.len();
        let last = stream.row(stream.nrows() - 1);
        let normed = rms_norm(last, &weights.norm, config.rms_norm_eps);
        Ok(weights.output().dot(&normed).to_vec())
    }

    /// Rotates each row's heads by its position's angles (rows are the positions from
    /// `self.positions` on).
    fn rope(&self, rows: &mut Array2<f32>) {
        let head_dim = self.model.config.head_dim();
        let half = head_dim / 2;
        let theta = self.model.config.rope_theta;
        for (offset, mut row) in rows.rows_mut().into_iter().enumerate() {
            let pos = (self.positions + offset) as f32;
            let row = row.as_slice_mut().expect("a product's rows are contiguous");
            for head in row.chunks_exact_mut(head_dim) {
                for i in 0..half {
                    let frequency = theta.powf(-((2 * i) as f32) / head_dim as f32);
                    let (sin, cos) = (pos * frequency).sin_cos();
                    let (a, b) = (head[i], head[i + half]);
                    head[i] = a * cos - b * sin;
                    head[i + half] = b * cos + a * sin;
                }
            }
        }
    }

    /// Causal grouped-query attention of the new `queries` over layer `index`'s cache.
    fn attend(&self, index: usize, queries: &Array2<f32>) -> Array2<f32> {
        let config = &self.model.config;
        let (heads, head_dim) = (config.num_attention_heads, config.head_dim());
        let group = heads / config.kv_heads();
        let scale = 1.0 / (head_dim as f32).sqrt();
        let mut attended = Array2::zeros(queries.raw_dim());
        for (offset, query) in queries.rows().into_iter().enumerate() {
            let seen = self.positions + offset + 1;
            for head in 0..heads {
                let kv = (head / group) * head_dim..(head / group + 1) * head_dim;
                let columns = head * head_dim..(head + 1) * head_dim;
                let keys = block(&self.keys[index], seen, kv.clone());
                let mut scores = keys.dot(&query.slice_axis(Axis(0), Slice::from(columns.clone()))) * scale;
                softmax_in_place(&mut scores);
                let values = block(&self.values[index], seen, kv);
                attended
                    .row_mut(offset)
                    .slice_axis_mut(Axis(0), Slice::from(columns))
                    .assign(&values.t().dot(&scores));
            }
        }
        attended
    }
}

/// `rows · weightᵀ`, a matrix-vector product per row. Never a matrix product: those
/// pick FMA or plain kernels by the CPU at run time, which round differently, and a
/// request must give the same tokens on any node that runs it (a reroute splices a
/// stream; a seed promises the same draw).
fn project(rows: &Array2<f32>, weight: &Array2<f32>) -> Array2<f32> {
    let mut out = Array2::zeros((rows.nrows(), weight.nrows()));
    for (row, mut projected) in rows.rows().into_iter().zip(out.rows_mut()) {
        projected.assign(&weight.dot(&row));
    }
    out
}

/// The first `rows` rows of `matrix`, columns `columns`.
fn block(matrix: &Array2<f32>, rows: usize, columns: std::ops::Range<usize>) -> ArrayView2<'_, f32> {
    let mut view = matrix.view();
    view.slice_axis_inplace(Axis(0), Slice::from(..rows));
    view.slice_axis_inplace(Axis(1), Slice::from(columns));
    view
}

fn rms_norm(x: ArrayView1<'_, f32>, weight: &Array1<f32>, eps: f32) -> Array1<f32> {
    let mean_square = x.dot(&x) / x.len() as f32;
    let scale = 1.0 / (mean_square + eps).sqrt();
    &x * weight * scale
}

fn rms_norm_rows(rows: &Array2<f32>, weight: &Array1<f32>, eps: f32) -> Array2<f32> {
    let mut normed = rows.clone();
    for mut row in normed.rows_mut() {
        let mean_square = row.dot(&row) / row.len() as f32;
        let scale = 1.0 / (mean_square + eps).sqrt();
        row.zip_mut_with(weight, |v, w| *v *= scale * w);
    }
    normed
}

fn softmax_in_place(scores: &mut Array1<f32>) {
    let max = scores.fold(f32::NEG_INFINITY, |max, score| max.max(*score));
    scores.mapv_inplace(|score| (score - max).exp());
    let total = scores.sum();
    *scores /= total;
}

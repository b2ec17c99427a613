//! The forward pass in plain loops, in f64, recomputing the whole sequence for every
//! position (no cache): slow, and written to be read against the architecture, so the
//! CPU path ([`crate::Session`]) is checked against it.

use crate::Model;

/// Logits after each position of `tokens`.
pub fn logits(model: &Model, tokens: &[u32]) -> Vec<Vec<f32>> {
    let config = &model.config;
    let weights = &model.weights;
    let (heads, kv_heads, head_dim) = (config.num_attention_heads, config.kv_heads(), config.head_dim());
    let eps = f64::from(config.rms_norm_eps);
    let mut stream: Vec<Vec<f64>> = tokens
        .iter()
        .map(|token| {
            weights
                .embed
                .row(*token as usize)
                .iter()
                .map(|w| f64::from(*w))
                .collect()
        })
        .collect();
    for layer in &weights.layers {
        let normed: Vec<Vec<f64>> = stream.iter().map(|x| rms_norm(x, &layer.attn_norm, eps)).collect();
        let project = |matrix: &ndarray::Array2<f32>, pos: usize| mat_vec(matrix, &normed[pos]);
        let queries: Vec<Vec<f64>> = (0..tokens.len())
            .map(|pos| rope_heads(project(&layer.wq, pos), heads, head_dim, pos, config.rope_theta))
            .collect();
        let keys: Vec<Vec<f64>> = (0..tokens.len())
            .map(|pos| rope_heads(project(&layer.wk, pos), kv_heads, head_dim, pos, config.rope_theta))
            .collect();
        let values: Vec<Vec<f64>> = (0..tokens.len()).map(|pos| project(&layer.wv, pos)).collect();
        for pos in 0..tokens.len() {
            let mut attended = vec![0.0; heads * head_dim];
            for head in 0..heads {
                let kv = head / (heads / kv_heads);
                let query = &queries[pos][head * head_dim..(head + 1) * head_dim];
                let scores: Vec<f64> = (0..=pos)
                    .map(|earlier| {
                        let key = &keys[earlier][kv * head_dim..(kv + 1) * head_dim];
                        dot(query, key) / (head_dim as f64).sqrt()
                    })
                    .collect();
                let weights_of = softmax(&scores);
                for (earlier, weight) in weights_of.iter().enumerate() {
                    let value = &values[earlier][kv * head_dim..(kv + 1) * head_dim];
                    for (out, v) in attended[head * head_dim..(head + 1) * head_dim].iter_mut().zip(value) {
                        *out += weight * v;
                    }
                }
            }
            add(&mut stream[pos], &mat_vec(&layer.wo, &attended));
        }
        for x in stream.iter_mut() {
            let normed = rms_norm(x, &layer.ffn_norm, eps);
            let gate = mat_vec(&layer.w_gate, &normed);
            let up = mat_vec(&layer.w_up, &normed);
            let activated: Vec<f64> = gate.iter().zip(&up).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
            add(x, &mat_vec(&layer.w_down, &activated));
        }
    }
    stream
        .iter()
        .map(|x| {
            let normed = rms_norm(x, &weights.norm, eps);
            mat_vec(weights.output(), &normed)
                .into_iter()
                .map(|l| l as f32)
                .collect()
        })
        .collect()
}

fn rms_norm(x: &[f64], weight: &ndarray::Array1<f32>, eps: f64) -> Vec<f64> {
    let mean_square = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let scale = 1.0 / (mean_square + eps).sqrt();
    x.iter().zip(weight).map(|(v, w)| v * scale * f64::from(*w)).collect()
}

fn mat_vec(matrix: &ndarray::Array2<f32>, x: &[f64]) -> Vec<f64> {
    matrix
        .rows()
        .into_iter()
        .map(|row| row.iter().zip(x).map(|(w, v)| f64::from(*w) * v).sum())
        .collect()
}

/// Rotates each head's halves by the position's angles (the rotate-half layout
/// Hugging Face's llama weights use).
fn rope_heads(mut x: Vec<f64>, heads: usize, head_dim: usize, pos: usize, theta: f32) -> Vec<f64> {
    let half = head_dim / 2;
    for head in x.chunks_exact_mut(head_dim).take(heads) {
        for i in 0..half {
            let frequency = f64::from(theta).powf(-((2 * i) as f64) / head_dim as f64);
            let (sin, cos) = (pos as f64 * frequency).sin_cos();
            let (a, b) = (head[i], head[i + half]);
            head[i] = a * cos - b * sin;
            head[i + half] = b * cos + a * sin;
        }
    }
    x
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|e| e / total).collect()
}

fn add(x: &mut [f64], delta: &[f64]) {
    for (v, d) in x.iter_mut().zip(delta) {
        *v += d;
    }
}

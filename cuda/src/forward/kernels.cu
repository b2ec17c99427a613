// The forward pass's kernels, compiled by NVRTC when a node opens its CUDA backend.
// Every matrix is row-major f32; one launch covers `rows` consecutive positions.
// Blocks that reduce use exactly BLOCK threads.

#define BLOCK 256

__device__ float block_sum(float value, float* shared) {
    shared[threadIdx.x] = value;
    __syncthreads();
    for (int stride = BLOCK / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) shared[threadIdx.x] += shared[threadIdx.x + stride];
        __syncthreads();
    }
    float total = shared[0];
    __syncthreads();
    return total;
}

__device__ float block_max(float value, float* shared) {
    shared[threadIdx.x] = value;
    __syncthreads();
    for (int stride = BLOCK / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) shared[threadIdx.x] = fmaxf(shared[threadIdx.x], shared[threadIdx.x + stride]);
        __syncthreads();
    }
    float most = shared[0];
    __syncthreads();
    return most;
}

// out[row] = table[tokens[row]]; grid: rows.
extern "C" __global__ void embed(const float* table, const unsigned int* tokens, float* out, int width) {
    const float* from = table + (size_t)tokens[blockIdx.x] * width;
    float* to = out + (size_t)blockIdx.x * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x) to[i] = from[i];
}

// out[row] = x[row] * weight / sqrt(mean(x[row]^2) + eps); grid: rows.
extern "C" __global__ void rms_norm(const float* x, const float* weight, float* out, int width, float eps) {
    __shared__ float shared[BLOCK];
    const float* row = x + (size_t)blockIdx.x * width;
    float squares = 0.0f;
    for (int i = threadIdx.x; i < width; i += BLOCK) squares += row[i] * row[i];
    float scale = 1.0f / sqrtf(block_sum(squares, shared) / width + eps);
    float* to = out + (size_t)blockIdx.x * width;
    for (int i = threadIdx.x; i < width; i += BLOCK) to[i] = row[i] * scale * weight[i];
}

// Rotates each head of each row by its position (rotate-half pairs i, i + half);
// grid: rows, threads: any.
extern "C" __global__ void rope(float* x, int heads, int head_dim, int first_position, float theta) {
    int half = head_dim / 2;
    float position = (float)(first_position + blockIdx.x);
    float* row = x + (size_t)blockIdx.x * heads * head_dim;
    for (int k = threadIdx.x; k < heads * half; k += blockDim.x) {
        int head = k / half, i = k % half;
        float frequency = powf(theta, -((float)(2 * i)) / (float)head_dim);
        float s, c;
        sincosf(position * frequency, &s, &c);
        float* pair = row + head * head_dim;
        float a = pair[i], b = pair[i + half];
        pair[i] = a * c - b * s;
        pair[i + half] = b * c + a * s;
    }
}

// Causal grouped-query attention of `rows` new queries over the cache's first
// `first_position + row + 1` positions; grid: rows * heads. `scores` holds
// `capacity` floats per block.
extern "C" __global__ void attention(const float* queries, const float* keys, const float* values, float* scores,
                                     float* out, int heads, int group, int head_dim, int first_position,
                                     int capacity, float scale) {
    __shared__ float shared[BLOCK];
    int row = blockIdx.x / heads, head = blockIdx.x % heads;
    int seen = first_position + row + 1;
    int kv_width = heads / group * head_dim;
    const float* query = queries + (size_t)row * heads * head_dim + head * head_dim;
    const float* key_base = keys + (head / group) * head_dim;
    const float* value_base = values + (head / group) * head_dim;
    float* score = scores + (size_t)blockIdx.x * capacity;
    float most = __int_as_float(0xff800000);
    for (int j = threadIdx.x; j < seen; j += BLOCK) {
        const float* key = key_base + (size_t)j * kv_width;
        float dot = 0.0f;
        for (int d = 0; d < head_dim; d++) dot += query[d] * key[d];
        score[j] = dot * scale;
        most = fmaxf(most, score[j]);
    }
    most = block_max(most, shared);
    float total = 0.0f;
    for (int j = threadIdx.x; j < seen; j += BLOCK) {
        score[j] = expf(score[j] - most);
        total += score[j];
    }
    total = block_sum(total, shared);
    float* to = out + (size_t)row * heads * head_dim + head * head_dim;
    for (int d = threadIdx.x; d < head_dim; d += BLOCK) {
        float sum = 0.0f;
        for (int j = 0; j < seen; j++) sum += score[j] * value_base[(size_t)j * kv_width + d];
        to[d] = sum / total;
    }
}

// x += y over n values.
extern "C" __global__ void add(float* x, const float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}

// gate = silu(gate) * up over n values.
extern "C" __global__ void swiglu(float* gate, const float* up, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

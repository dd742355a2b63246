# One kernel, but the eager chain inside it: each stage writes its result to out and the next
# reads it back. Right results; every intermediate goes through global memory.
# %% kernel_answer
FUSED_SOURCE = r"""
extern "C" __global__ void bias_gelu_dropout(const float* x, const float* bias, const float* u,
                                             float* out, int rows, int cols, float p) {
    int n = rows * cols, stride = gridDim.x * blockDim.x;
    int first = blockIdx.x * blockDim.x + threadIdx.x;
    for (int i = first; i < n; i += stride) out[i] = x[i] + bias[i % cols];
    for (int i = first; i < n; i += stride) {
        float h = out[i];
        out[i] = 0.5f * h * (1.0f + tanhf(0.7978845608f * (h + 0.044715f * h * h * h)));
    }
    for (int i = first; i < n; i += stride) out[i] = u[i] >= p ? out[i] / (1.0f - p) : 0.0f;
}
"""

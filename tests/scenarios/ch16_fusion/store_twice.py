# Writes the GELU into out, then reads u and writes out again: the compiler cannot drop the
# first store (out might alias u), so an intermediate is written to global memory.
# %% kernel_answer
FUSED_SOURCE = r"""
extern "C" __global__ void bias_gelu_dropout(const float* x, const float* bias, const float* u,
                                             float* out, int rows, int cols, float p) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < rows * cols) {
        float h = x[i] + bias[i % cols];
        out[i] = 0.5f * h * (1.0f + tanhf(0.7978845608f * (h + 0.044715f * h * h * h)));
        out[i] = u[i] >= p ? out[i] / (1.0f - p) : 0.0f;
    }
}
"""

# Fused, but without the bounds guard: the last block's extra threads read and write past
# the arrays (the sanitizer sees it).
# %% kernel_answer
FUSED_SOURCE = r"""
extern "C" __global__ void bias_gelu_dropout(const float* x, const float* bias, const float* u,
                                             float* out, int rows, int cols, float p) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float h = x[i] + bias[i % cols];
    float g = 0.5f * h * (1.0f + tanhf(0.7978845608f * (h + 0.044715f * h * h * h)));
    out[i] = u[i] >= p ? g / (1.0f - p) : 0.0f;
}
"""

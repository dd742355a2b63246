# The softplus written inline in the kernel, with no __device__ function: right values, but the
# exercise asks for a device function, and the check refuses the source (its points lost).
# %% softplus_answer
SOFTPLUS_SRC = r'''
extern "C" __global__ void softplus_2d(const float* x, float* out, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) {
        float v = x[row * cols + col];
        out[row * cols + col] = fmaxf(v, 0.0f) + log1pf(expf(-fabsf(v)));
    }
}'''

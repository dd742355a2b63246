# launch_batched asks for blocks of 32 x 8 x 8 = 2048 threads, the CUDA C bias add takes the bias
# of the row, and the softplus overflows: only the Numba transpose is right, 3 of 10.
# %% launch_answer
def launch_batched(batch, rows, cols):
    return ((cols + 31) // 32, (rows + 7) // 8, (batch + 7) // 8), (32, 8, 8)

# %% c_answer
BIAS_ADD_SRC = r'''
extern "C" __global__ void bias_add(const float* x, const float* bias, float* out, int batch, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    int b = blockIdx.z * blockDim.z + threadIdx.z;
    if (b < batch && row < rows && col < cols && row < cols)
        out[(b * rows + row) * cols + col] = x[(b * rows + row) * cols + col] + bias[row];
}'''

# %% softplus_answer
SOFTPLUS_SRC = r'''
__device__ float softplus(float v) { return logf(1.0f + expf(v)); }
extern "C" __global__ void softplus_2d(const float* x, float* out, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) out[row * cols + col] = softplus(x[row * cols + col]);
}'''

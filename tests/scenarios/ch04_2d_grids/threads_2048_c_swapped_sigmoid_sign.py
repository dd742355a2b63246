# launch_2d asks for blocks of 64 x 32 = 2048 threads, the CUDA C matrix add has rows and columns
# swapped, and the sigmoid has the sign of its exponent wrong: only the Numba kernel is right,
# 3 of 10.
# %% launch_answer
def launch_2d(rows, cols):
    return ((cols + 63) // 64, (rows + 31) // 32), (64, 32)

# %% c_answer
MATRIX_ADD_SRC = r'''
extern "C" __global__ void matrix_add(const float* A, const float* B, float* out, int rows, int cols) {
    int col = blockIdx.y * blockDim.y + threadIdx.y;
    int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row < rows && col < cols) out[row * cols + col] = A[row * cols + col] + B[row * cols + col];
}'''

# %% sigmoid_answer
SIGMOID_SRC = r'''
__device__ float sigmoid(float v) { return 1.0f / (1.0f + expf(v)); }
extern "C" __global__ void sigmoid_2d(const float* x, float* out, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) out[row * cols + col] = sigmoid(x[row * cols + col]);
}'''

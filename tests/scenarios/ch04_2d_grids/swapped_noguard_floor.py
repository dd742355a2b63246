# The Numba transpose with x as the row, launch_batched rounding the grid down, and the CUDA C
# bias add without its bounds guard: only the softplus is right, 2 of 10.
# %% transpose_answer
from numba import cuda

@cuda.jit
def transpose(A, out):
    row, col = cuda.grid(2)
    if row < A.shape[0] and col < A.shape[1]:
        out[col, row] = A[row, col]

# %% launch_answer
def launch_batched(batch, rows, cols):
    return (cols // 32, rows // 4, batch // 8), (32, 4, 8)

# %% c_answer
BIAS_ADD_SRC = r'''
extern "C" __global__ void bias_add(const float* x, const float* bias, float* out, int batch, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    int b = blockIdx.z * blockDim.z + threadIdx.z;
    int i = (b * rows + row) * cols + col;
    out[i] = x[i] + bias[col];
}'''

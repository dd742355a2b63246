# The Numba matrix add with x as the row, launch_2d rounding the grid down, and the CUDA C matrix
# add without its bounds guard: only the sigmoid is right, 2 of 10.
# %% numba_answer
from numba import cuda

@cuda.jit
def matrix_add(A, B, out):
    row, col = cuda.grid(2)
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = A[row, col] + B[row, col]

# %% launch_answer
def launch_2d(rows, cols):
    return (cols // 32, rows // 8), (32, 8)

# %% c_answer
MATRIX_ADD_SRC = r'''
extern "C" __global__ void matrix_add(const float* A, const float* B, float* out, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    out[row * cols + col] = A[row * cols + col] + B[row * cols + col];
}'''

# The CUDA C matrix add without its bounds guard: the idle threads of the edge blocks read and
# write past A, B and out. The shim under AddressSanitizer fails it out of bounds.
# %% c_answer
MATRIX_ADD_SRC = r'''
extern "C" __global__ void matrix_add(const float* A, const float* B, float* out, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    out[row * cols + col] = A[row * cols + col] + B[row * cols + col];
}'''

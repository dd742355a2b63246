# The CUDA C bias add guards the row and the column, as the page's matrix add does, but not the
# matrix of the batch: the idle z-threads of the last layer of blocks write past the end of out.
# The shim under AddressSanitizer fails it out of bounds.
# %% c_answer
BIAS_ADD_SRC = r'''
extern "C" __global__ void bias_add(const float* x, const float* bias, float* out, int batch, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    int b = blockIdx.z * blockDim.z + threadIdx.z;
    if (row < rows && col < cols) out[(b * rows + row) * cols + col] = x[(b * rows + row) * cols + col] + bias[col];
}'''

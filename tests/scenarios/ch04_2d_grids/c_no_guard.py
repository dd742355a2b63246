# The CUDA C bias add without its bounds guard: the idle threads of the edge blocks read and
# write past x and out. The shim under AddressSanitizer fails it out of bounds.
# %% c_answer
BIAS_ADD_SRC = r'''
extern "C" __global__ void bias_add(const float* x, const float* bias, float* out, int batch, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    int b = blockIdx.z * blockDim.z + threadIdx.z;
    int i = (b * rows + row) * cols + col;
    out[i] = x[i] + bias[col];
}'''

# The sigmoid written inline in the kernel, with no __device__ function: right values, but the
# exercise asks for a device function, and the check refuses the source (its points lost).
# %% sigmoid_answer
SIGMOID_SRC = r'''

extern "C" __global__ void sigmoid_2d(const float* x, float* out, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) out[row * cols + col] = 1.0f / (1.0f + expf(-x[row * cols + col]));
}'''

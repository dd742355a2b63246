# The device function computes sigmoid(-x), 1 / (1 + exp(x)): the check names the sign of the
# exponent (the sigmoid's points lost).
# %% sigmoid_answer
SIGMOID_SRC = r'''
__device__ float sigmoid(float v) { return 1.0f / (1.0f + expf(v)); }
extern "C" __global__ void sigmoid_2d(const float* x, float* out, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) out[row * cols + col] = sigmoid(x[row * cols + col]);
}'''

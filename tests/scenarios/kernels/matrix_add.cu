extern "C" __global__ void matrix_add(const float* A, const float* B, float* out, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) {
        out[row * cols + col] = A[row * cols + col] + B[row * cols + col];
    }
}

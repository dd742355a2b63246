extern "C" __global__ void matrix_add(const float* A, const float* B, float* out, int rows, int cols) {
    int row = blockIdx.x * blockDim.x + threadIdx.x;   // wrong: x walks the rows
    int col = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) {
        out[row * cols + col] = A[row * cols + col] + B[row * cols + col];
    }
}

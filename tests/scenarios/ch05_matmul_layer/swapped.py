# The naive matmuls wrong in both languages: the Numba kernel takes x as the row (the grid covers
# N rows and M columns, so C is wrong on non-square shapes) and the CUDA C one computes the row
# with blockDim.x (rows are left unwritten on blocks wider than tall); the layer built on the
# Numba kernel fails too: 4 of 10.
# %% naive_answer
from numba import cuda, float32


@cuda.jit
def matmul(A, B, C):          # x taken as the row: the grid covers N rows and M columns
    row, col = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0.0)
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc

# %% naive_c_answer
NAIVE_SRC = r"""
extern "C" __global__ void matmul_naive(const float* A, const float* B, float* C,
                                        int M, int K, int N) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.x + threadIdx.y;      // blockDim.x: right only for square blocks
    if (row < M && col < N) {
        float acc = 0.0f;
        for (int k = 0; k < K; ++k) acc += A[row * K + k] * B[k * N + col];
        C[row * N + col] = acc;
    }
}
"""

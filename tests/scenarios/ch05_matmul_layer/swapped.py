# Rows and columns mixed up in both languages: the two-column Numba kernel takes x as the row
# (its grid covers the wrong part of C on non-square shapes) and the CUDA C linear layer
# computes the row with blockDim.x (rows are left unwritten on blocks wider than tall); the
# layer built on the Numba kernel fails too: 4 of 10.
# %% pairs_answer
from numba import cuda, float32


@cuda.jit
def matmul_pairs(A, B, C):          # x taken as the row
    row = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    col = cuda.blockIdx.y * 2 * cuda.blockDim.y + cuda.threadIdx.y
    col2 = col + cuda.blockDim.y
    M, K = A.shape
    N = C.shape[1]
    if row < M and col < N:
        acc = float32(0.0)
        acc2 = float32(0.0)
        for k in range(K):
            a = A[row, k]
            acc += a * B[k, col]
            if col2 < N:
                acc2 += a * B[k, col2]
        C[row, col] = acc
        if col2 < N:
            C[row, col2] = acc2

# %% linear_c_answer
LINEAR_SRC = r"""
extern "C" __global__ void linear(const float* X, const float* W, const float* b, float* Y,
                                  int M, int K, int N) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.x + threadIdx.y;      // blockDim.x: right only for square blocks
    if (row < M && col < N) {
        float acc = b[col];
        for (int k = 0; k < K; ++k) acc += X[row * K + k] * W[col * K + k];
        Y[row * N + col] = acc;
    }
}
"""

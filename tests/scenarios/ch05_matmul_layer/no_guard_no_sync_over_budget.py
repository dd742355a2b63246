# A two-columns-per-thread matmul that guards only its first column (the second is written past
# C's edge when N is odd), a layer built on its own (right) matmul, a tiled CUDA C A @ B.T
# without __syncthreads(), and a Numba "tiled" two-column kernel that still reads B from global
# memory in its inner loop (over the read budget). The layer, independent of the broken matmul,
# and the linear CUDA C kernel (the solution's) keep their points: 4 of 10.
# %% pairs_answer
from numba import cuda, float32


@cuda.jit
def matmul_pairs(A, B, C):
    row = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
    col = cuda.blockIdx.x * 2 * cuda.blockDim.x + cuda.threadIdx.x
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0.0)
        acc2 = float32(0.0)
        for k in range(A.shape[1]):
            a = A[row, k]
            acc += a * B[k, col]
            if col + cuda.blockDim.x < C.shape[1]:
                acc2 += a * B[k, col + cuda.blockDim.x]
        C[row, col] = acc
        C[row, col + cuda.blockDim.x] = acc2

# %% layer_answer
import math
import numpy as np
from autograder.kernels import run_kernel, Launch


@cuda.jit
def matmul_ok(A, B, C):
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0.0)
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


@cuda.jit
def bias_softplus(Z, b, Y):
    col, row = cuda.grid(2)
    if row < Y.shape[0] and col < Y.shape[1]:
        v = Z[row, col] + b[col]
        Y[row, col] = max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def layer(X, W, b):
    Z = np.zeros((X.shape[0], W.shape[0]), np.float32)
    grid = (math.ceil(W.shape[0] / 8), math.ceil(X.shape[0] / 8))
    Z = run_kernel(matmul_ok, [Launch(grid, (8, 8), [X, np.ascontiguousarray(W.T), Z])]).outputs[0][2]
    return run_kernel(bias_softplus, [Launch(grid, (8, 8), [Z, b, np.zeros_like(Z)])]).outputs[0][2]

# %% tiled_nt_answer
TILED_NT_SRC = r'''#define TILE 16

extern "C" __global__ void matmul_tiled_nt(const float* A, const float* B, float* C, int M, int K, int N) {
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    int row = blockIdx.y * TILE + threadIdx.y;
    int col = blockIdx.x * TILE + threadIdx.x;
    float acc = 0.0f;
    for (int t = 0; t < K; t += TILE) {
        As[threadIdx.y][threadIdx.x] = (row < M && t + threadIdx.x < K) ? A[row * K + t + threadIdx.x] : 0.0f;
        Bs[threadIdx.y][threadIdx.x] = (col < N && t + threadIdx.y < K) ? B[col * K + t + threadIdx.y] : 0.0f;
        for (int k = 0; k < TILE; ++k) {
            acc += As[threadIdx.y][k] * Bs[k][threadIdx.x];
        }
    }
    if (row < M && col < N) {
        C[row * N + col] = acc;
    }
}
'''

# %% tiled_pairs_answer
TILE, TILE2 = 16, 32


@cuda.jit
def matmul_tiled_pairs(A, B, C):      # "tiled", but the inner loop reads B from global memory
    As = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    row = cuda.blockIdx.y * TILE + ty
    col = cuda.blockIdx.x * TILE2 + tx
    M, K = A.shape
    N = B.shape[1]
    acc = float32(0.0)
    acc2 = float32(0.0)
    for t in range(0, K, TILE):
        As[ty, tx] = A[row, t + tx] if row < M and t + tx < K else float32(0.0)
        cuda.syncthreads()
        for k in range(TILE):
            if t + k < K:
                if col < N:
                    acc += As[ty, k] * B[t + k, col]
                if col + TILE < N:
                    acc2 += As[ty, k] * B[t + k, col + TILE]
        cuda.syncthreads()
    if row < M and col < N:
        C[row, col] = acc
    if row < M and col + TILE < N:
        C[row, col + TILE] = acc2

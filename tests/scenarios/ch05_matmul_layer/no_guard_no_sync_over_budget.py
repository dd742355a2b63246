# A naive matmul without its bounds guard, a layer built on its own (right) matmul, a CUDA C
# tiled kernel without __syncthreads(), and a Numba "tiled" kernel that still reads A and B from
# global memory (over the read budget). The layer, independent of the broken matmul, and the naive
# CUDA C kernel (the solution's) keep their points: 4 of 10.
# %% naive_answer
from numba import cuda, float32


@cuda.jit
def matmul(A, B, C):
    col, row = cuda.grid(2)
    acc = float32(0.0)
    for k in range(A.shape[1]):
        acc += A[row, k] * B[k, col]
    C[row, col] = acc

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
def bias_sigmoid(z, b, y):
    i = cuda.grid(1)
    if i < y.size:
        y[i] = 1.0 / (1.0 + math.exp(-(z[i] + b[i])))


def layer(W, x, b):
    z = run_kernel(matmul_ok, [Launch((1, math.ceil(W.shape[0] / 8)), (8, 8),
                                      [W, x.reshape(-1, 1), np.zeros((W.shape[0], 1), np.float32)])])
    z = z.outputs[0][2].ravel()
    return run_kernel(bias_sigmoid, [Launch(math.ceil(z.size / 32), 32, [z, b, np.zeros_like(z)])]).outputs[0][2]

# %% tiled_c_answer
TILED_SRC = r'''#define TILE 16

extern "C" __global__ void matmul_tiled(const float* A, const float* B, float* C, int M, int K, int N) {
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    int row = blockIdx.y * TILE + threadIdx.y;
    int col = blockIdx.x * TILE + threadIdx.x;
    float acc = 0.0f;
    for (int t = 0; t < K; t += TILE) {
        As[threadIdx.y][threadIdx.x] = (row < M && t + threadIdx.x < K) ? A[row * K + t + threadIdx.x] : 0.0f;
        Bs[threadIdx.y][threadIdx.x] = (col < N && t + threadIdx.y < K) ? B[(t + threadIdx.y) * N + col] : 0.0f;
        for (int k = 0; k < TILE; ++k) {
            acc += As[threadIdx.y][k] * Bs[k][threadIdx.x];
        }
    }
    if (row < M && col < N) {
        C[row * N + col] = acc;
    }
}
'''

# %% tiled_numba_answer
TILE = 16


from numba import cuda, float32


@cuda.jit
def matmul_tiled(A, B, C):      # "tiled", but the inner loop reads A and B from global memory
    As = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    acc = float32(0.0)
    for t in range(0, A.shape[1], TILE):
        As[ty, tx] = A[row, t + tx] if row < A.shape[0] and t + tx < A.shape[1] else float32(0.0)
        cuda.syncthreads()
        for k in range(TILE):
            if row < C.shape[0] and col < C.shape[1] and t + k < A.shape[1]:
                acc += A[row, t + k] * B[t + k, col]
        cuda.syncthreads()
    if row < C.shape[0] and col < C.shape[1]:
        C[row, col] = acc

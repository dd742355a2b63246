# The tiled CUDA C A @ B.T with its final guard removed: the threads of the edge blocks write C
# past its end. AddressSanitizer on the shim fails it out of bounds.
# %% tiled_nt_answer
TILED_NT_SRC = r'''
#define TILE 16
extern "C" __global__ void matmul_tiled_nt(const float* A, const float* B, float* C, int M, int K, int N) {
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
    int brow = blockIdx.x * TILE + ty;
    float acc = 0.0f;
    for (int t = 0; t < K; t += TILE) {
        As[ty][tx] = (row < M && t + tx < K) ? A[row * K + t + tx] : 0.0f;
        Bs[tx][ty] = (brow < N && t + tx < K) ? B[brow * K + t + tx] : 0.0f;
        __syncthreads();
        for (int k = 0; k < TILE; ++k) acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    C[row * N + col] = acc;
}
'''

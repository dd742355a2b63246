# A tiled CUDA C A @ B.T without __syncthreads(): threads read a tile before the others have
# loaded it, and overwrite it while others still read it. ThreadSanitizer on the shim reports
# the race on the __shared__ array (the tiled C kernel's points lost).
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

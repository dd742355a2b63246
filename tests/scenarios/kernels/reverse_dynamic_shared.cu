// Reverses each block's chunk of x through dynamic shared memory (shared_mem = blockDim.x floats).
extern "C" __global__ void reverse_blocks(const float* x, float* out, int n) {
    extern __shared__ float buf[];
    dim3 t = threadIdx;
    int i = blockIdx.x * blockDim.x + t.x;
    buf[t.x] = i < n ? x[i] : 0.0f;
    __syncthreads();
    int j = blockIdx.x * blockDim.x + (blockDim.x - 1 - t.x);
    if (j < n) {
        out[j] = buf[t.x];
    }
}

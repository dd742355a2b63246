// 128 x 128 floats = 64 KiB of static shared memory: more than the 48 KiB a block may declare.
extern "C" __global__ void big_tile(const float* a, float* out, int n) {
    __shared__ float tile[128][128];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    tile[threadIdx.x][0] = i < n ? a[i] : 0.0f;
    __syncthreads();
    if (i < n) {
        out[i] = tile[threadIdx.x][0];
    }
}

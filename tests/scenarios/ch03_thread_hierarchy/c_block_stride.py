# A CUDA C grid-stride reverse that steps by blockDim.x instead of the whole grid: every block
# walks the same pairs, which are swapped twice or more (its points lost).
# %% reverse_c_answer
STRIDE_SRC = r"""
extern "C" __global__ void reverse_stride(float* x, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n / 2; i += blockDim.x) {
        float t = x[i];
        x[i] = x[n - 1 - i];
        x[n - 1 - i] = t;
    }
}"""

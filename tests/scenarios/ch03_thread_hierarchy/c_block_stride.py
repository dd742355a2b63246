# A CUDA C grid-stride loop that steps by blockDim.x instead of the whole grid: every block walks
# the same elements, which are updated twice or more (its points lost).
# %% stride_c_answer
STRIDE_SRC = r"""
extern "C" __global__ void scale_shift_stride(float* x, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x) {
        x[i] = 2.0f * x[i] + 1.0f;
    }
}"""

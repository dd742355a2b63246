# The CUDA C adjacent difference without its bounds guard: the idle threads of the last block read
# and write past the arrays. AddressSanitizer stops it, visible and hidden (3 points lost).
# %% c_diff_answer
ADJACENT_DIFF_NAME = "adjacent_diff"
ADJACENT_DIFF_SRC = r"""
extern "C" __global__ void adjacent_diff(const float* a, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    out[i] = a[i + 1] - a[i];
}
"""

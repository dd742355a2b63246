# The CUDA C adjacent difference with a semicolon missing: NVRTC refuses it and the check quotes
# its message and line (3 points lost).
# %% c_diff_answer
ADJACENT_DIFF_NAME = "adjacent_diff"
ADJACENT_DIFF_SRC = r"""
extern "C" __global__ void adjacent_diff(const float* a, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x
    if (i < n - 1) {
        out[i] = a[i + 1] - a[i];
    }
}
"""

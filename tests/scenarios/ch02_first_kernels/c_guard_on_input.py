# The CUDA C adjacent difference guarded with the length of a, as the page's vector add is: thread
# n - 1 has no output and still reads a[n] and writes out[n - 1], one past each array (3 points lost).
# %% c_diff_answer
ADJACENT_DIFF_NAME = "adjacent_diff"
ADJACENT_DIFF_SRC = r"""
extern "C" __global__ void adjacent_diff(const float* a, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = a[i + 1] - a[i];
    }
}
"""

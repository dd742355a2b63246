# The CUDA C adjacent difference uses threadIdx.x alone, so every block repeats the first block's
# elements (3 points lost), and launch_config accepts 2048 threads per block (2 lost): 5 of 10.
# %% c_diff_answer
ADJACENT_DIFF_NAME = "adjacent_diff"
ADJACENT_DIFF_SRC = r"""extern "C" __global__ void adjacent_diff(const float* a, float* out, int n) {
    int i = threadIdx.x;   // wrong: the same elements in every block
    if (i < n - 1) {
        out[i] = a[i + 1] - a[i];
    }
}
"""

# %% config_answer
def launch_config(n, threads_per_block=256, per_thread=1):
    return -(-n // (threads_per_block * per_thread)), threads_per_block

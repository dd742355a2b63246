# The page's code pasted as every answer, renamed to the exercise's names: its vector add as the
# adjacent difference and as the shift (in both languages), its blocks_for as launch_config.
# None of them solves the exercise's case: 0 of 10.
# %% numba_diff_answer
from numba import cuda


@cuda.jit
def adjacent_diff(a, b, out):
    i = cuda.grid(1)     # = blockIdx.x * blockDim.x + threadIdx.x
    if i < out.size:     # the guard: the last block may reach past the end
        out[i] = a[i] + b[i]

# %% c_diff_answer
ADJACENT_DIFF_NAME = "adjacent_diff"
ADJACENT_DIFF_SRC = r"""
extern "C" __global__
void adjacent_diff(const float* a, const float* b, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {         // a pointer has no length: n comes as an argument
        out[i] = a[i] + b[i];
    }
}
"""

# %% config_answer
def launch_config(n, threads_per_block=256, per_thread=1):
    return (n + threads_per_block - 1) // threads_per_block, threads_per_block     # ceil(n / threads) in integers

# %% shift_answer
@cuda.jit
def shift(a, b, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] + b[i]


SHIFT_NAME = "shift"
SHIFT_SRC = r"""
extern "C" __global__
void shift(const float* a, const float* b, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = a[i] + b[i];
    }
}
"""

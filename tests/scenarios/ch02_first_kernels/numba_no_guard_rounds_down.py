# Two independent mistakes in one notebook: the Numba adjacent difference has no bounds guard (3
# points lost) and launch_config rounds the block count down (2 points lost): 5 of 10.
# %% numba_diff_answer
from numba import cuda

@cuda.jit
def adjacent_diff(a, out):
    i = cuda.grid(1)
    out[i] = a[i + 1] - a[i]

# %% config_answer
def launch_config(n, threads_per_block=256, per_thread=1):
    return n // (threads_per_block * per_thread), threads_per_block

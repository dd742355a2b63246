# Two independent mistakes in one notebook: the Numba vector add has no bounds guard (3 points
# lost) and launch_config rounds the block count down (2 points lost): 5 of 10.
# %% numba_add_answer
from numba import cuda

@cuda.jit
def vector_add(a, b, out):
    i = cuda.grid(1)
    out[i] = a[i] + b[i]

# %% config_answer
def launch_config(n, threads_per_block=256):
    return n // threads_per_block, threads_per_block

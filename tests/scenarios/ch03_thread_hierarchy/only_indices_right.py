# Everything but the indices wrong: a launch of 2048 threads per block, a Numba kernel without
# its guard, a "grid-stride" kernel without the loop, and a CUDA C loop that steps by blockDim.x.
# Only the indexing answer keeps its points: 2 of 10.
# %% launch_answer
def launch_config(n):
    return (n + 2047) // 2048, 2048

# %% guard_answer
from numba import cuda

@cuda.jit
def scale_shift(x):
    i = cuda.grid(1)
    x[i] = 2 * x[i] + 1

# %% stride_answer
@cuda.jit
def scale_shift_stride(x):
    i = cuda.grid(1)
    if i < x.size:
        x[i] = 2 * x[i] + 1

# %% stride_c_answer
STRIDE_SRC = r'''
extern "C" __global__ void scale_shift_stride(float* x, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x) {
        x[i] = 2.0f * x[i] + 1.0f;
    }
}'''

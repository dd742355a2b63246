# Everything but the indices wrong: a grid of 2048 threads per block, a Numba reverse guarded
# with n (threads past the half swap pairs back), a "grid-stride" reverse without the loop, and
# a CUDA C loop that steps by blockDim.x. Only the indexing answer keeps its points: 2 of 10.
# %% grid_answer
def grid_for(n, sm_count):
    return min((n + 2047) // 2048, 4 * sm_count), 2048

# %% reverse_answer
from numba import cuda

@cuda.jit
def reverse(x):
    i = cuda.grid(1)
    if i < x.size:
        j = x.size - 1 - i
        x[i], x[j] = x[j], x[i]

# %% reverse_stride_answer
@cuda.jit
def reverse_stride(x):
    i = cuda.grid(1)
    if i < x.size // 2:
        x[i], x[x.size - 1 - i] = x[x.size - 1 - i], x[i]

# %% reverse_c_answer
STRIDE_SRC = r'''
extern "C" __global__ void reverse_stride(float* x, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n / 2; i += blockDim.x) {
        float t = x[i];
        x[i] = x[n - 1 - i];
        x[n - 1 - i] = t;
    }
}'''

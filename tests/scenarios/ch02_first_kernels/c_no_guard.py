# The CUDA C vector add without its bounds guard: the idle threads of the last block read and
# write past the arrays. AddressSanitizer stops it, visible and hidden (3 points lost).
# %% c_add_answer
VECTOR_ADD_NAME = "vector_add"
VECTOR_ADD_SRC = r"""
extern "C" __global__ void vector_add(const float* a, const float* b, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    out[i] = a[i] + b[i];
}
"""

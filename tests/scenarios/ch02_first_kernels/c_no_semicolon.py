# The CUDA C vector add with a semicolon missing: NVRTC refuses it and the check quotes its
# message and line (3 points lost).
# %% c_add_answer
VECTOR_ADD_NAME = "vector_add"
VECTOR_ADD_SRC = r"""
extern "C" __global__ void vector_add(const float* a, const float* b, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x
    if (i < n) {
        out[i] = a[i] + b[i];
    }
}
"""

# The Numba scale-and-add is right; the CUDA C one scales b instead of a (alpha * b[i] + a[i]):
# the check says that alpha scales a, not b (the scale cell's points lost).
# %% scale_answer
@cuda.jit
def scale_add(alpha, a, b, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = alpha * a[i] + b[i]


SCALE_ADD_NAME = "scale_add"
SCALE_ADD_SRC = r"""
extern "C" __global__ void scale_add(float alpha, const float* a, const float* b, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = alpha * b[i] + a[i];
}
"""

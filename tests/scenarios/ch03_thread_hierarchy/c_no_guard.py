# A CUDA C reverse with neither loop nor bounds guard: the threads past the last element touch x
# before its start (x[n - 1 - i] with i >= n). The check fails it out of bounds.
# %% reverse_c_answer
STRIDE_SRC = r"""
extern "C" __global__ void reverse_stride(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float t = x[i];
    x[i] = x[n - 1 - i];
    x[n - 1 - i] = t;
}"""

# A CUDA C "grid-stride" reverse with no loop: one grid's worth of pairs is swapped, the rest keep
# their input. The check says so at the first element past one grid (its points lost).
# %% reverse_c_answer
STRIDE_SRC = r"""
extern "C" __global__ void reverse_stride(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n / 2) {
        float t = x[i];
        x[i] = x[n - 1 - i];
        x[n - 1 - i] = t;
    }
}"""

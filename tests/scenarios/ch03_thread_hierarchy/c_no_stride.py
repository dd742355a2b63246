# A CUDA C "grid-stride" kernel with no loop: one grid's worth of elements is handled, the rest
# keep their input. The check says so at the first element past one grid (its points lost).
# %% stride_c_answer
STRIDE_SRC = r"""
extern "C" __global__ void scale_shift_stride(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = 2.0f * x[i] + 1.0f;
}"""

# A CUDA C kernel with neither loop nor bounds guard: the idle threads of the last block touch x
# past its end. The guarded-kernel check fails it out of bounds, hidden shapes too.
# %% stride_c_answer
STRIDE_SRC = r"""
extern "C" __global__ void scale_shift_stride(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    x[i] = 2.0f * x[i] + 1.0f;
}"""

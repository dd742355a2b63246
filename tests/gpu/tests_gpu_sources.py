"""CUDA C sources the GPU-only tests run (kept apart so that each test stays a few lines)."""
COMMENTED_ADD = r'''
// vector_add(x, y): the comment names the kernel before its declaration does
extern "C" __global__ void vector_add(const float* a, const float* b, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a[i] + b[i];
}
'''
UNGUARDED_ADD = r'''
extern "C" __global__ void vector_add(const float* a, const float* b, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    out[i] = a[i] + b[i];
}
'''

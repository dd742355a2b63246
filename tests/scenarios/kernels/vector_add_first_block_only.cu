extern "C" __global__ void vector_add(const float* a, const float* b, float* out, int n) {
    int i = threadIdx.x;   // wrong: the same elements in every block
    if (i < n) {
        out[i] = a[i] + b[i];
    }
}

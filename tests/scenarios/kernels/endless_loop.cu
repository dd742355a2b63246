extern "C" __global__ void vector_add(const float* a, const float* b, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    for (int k = 0; k < n; k += 0) {   // k never grows
        out[0] = a[0];
    }
    if (i < n) {
        out[i] = a[i] + b[i];
    }
}

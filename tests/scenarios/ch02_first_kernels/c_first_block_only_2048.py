# The CUDA C vector add uses threadIdx.x alone, so every block repeats the first block's
# elements (3 points lost), and launch_config accepts 2048 threads per block (2 lost): 5 of 10.
# %% c_add_answer
VECTOR_ADD_NAME = "vector_add"
VECTOR_ADD_SRC = r"""extern "C" __global__ void vector_add(const float* a, const float* b, float* out, int n) {
    int i = threadIdx.x;   // wrong: the same elements in every block
    if (i < n) {
        out[i] = a[i] + b[i];
    }
}
"""

# %% config_answer
def launch_config(n, threads_per_block=256):
    return -(-n // threads_per_block), threads_per_block

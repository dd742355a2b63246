# The CUDA C bias add takes the bias of the row instead of the column (and reads past bias where
# rows > cols): wrong values, and the check says it got x + bias[row].
# %% c_answer
BIAS_ADD_SRC = r'''
extern "C" __global__ void bias_add(const float* x, const float* bias, float* out, int batch, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    int b = blockIdx.z * blockDim.z + threadIdx.z;
    if (b < batch && row < rows && col < cols && row < cols)
        out[(b * rows + row) * cols + col] = x[(b * rows + row) * cols + col] + bias[row];
}'''

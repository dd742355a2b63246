# A naive matmul with x taken as the row: the grid covers N rows and M columns, so C is wrong
# on non-square shapes; the layer built on it fails too: 5 of 10.
# %% naive_answer
from numba import cuda, float32


@cuda.jit
def matmul(A, B, C):          # x taken as the row: the grid covers N rows and M columns
    row, col = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0.0)
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc

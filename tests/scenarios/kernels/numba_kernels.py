"""Right and wrong Numba CUDA kernels for tests/kernels/ and the chapter tests (one function each)."""
from numba import cuda, float32

TPB = 16  # tile width of the tiled matmuls


@cuda.jit
def vector_add(a, b, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] + b[i]


@cuda.jit
def vector_add_no_guard(a, b, out):
    i = cuda.grid(1)
    out[i] = a[i] + b[i]


@cuda.jit
def vector_add_first_block_only(a, b, out):
    i = cuda.threadIdx.x
    if i < out.size:
        out[i] = a[i] + b[i]


@cuda.jit
def matrix_add(A, B, out):
    col, row = cuda.grid(2)  # x walks along columns, y along rows
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = A[row, col] + B[row, col]


@cuda.jit
def matrix_add_swapped(A, B, out):
    row, col = cuda.grid(2)  # wrong: x is used as the row
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = A[row, col] + B[row, col]


@cuda.jit
def matmul_naive(A, B, C):
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0.0)
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


@cuda.jit
def matmul_tiled(A, B, C):
    sA = cuda.shared.array((TPB, TPB), float32)
    sB = cuda.shared.array((TPB, TPB), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    acc = float32(0.0)
    for t in range((A.shape[1] + TPB - 1) // TPB):
        k = t * TPB
        sA[ty, tx] = A[row, k + tx] if row < A.shape[0] and k + tx < A.shape[1] else 0.0
        sB[ty, tx] = B[k + ty, col] if col < B.shape[1] and k + ty < B.shape[0] else 0.0
        cuda.syncthreads()
        for j in range(TPB):
            acc += sA[ty, j] * sB[j, tx]
        cuda.syncthreads()
    if row < C.shape[0] and col < C.shape[1]:
        C[row, col] = acc


@cuda.jit
def matmul_tiled_over_budget(A, B, C):
    # Loads shared tiles, but every thread still reads its whole row of A and column of B
    # from global memory: as many global reads as the naive kernel.
    sA = cuda.shared.array((TPB, TPB), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    acc = float32(0.0)
    for t in range((A.shape[1] + TPB - 1) // TPB):
        k = t * TPB
        sA[ty, tx] = A[row, k + tx] if row < A.shape[0] and k + tx < A.shape[1] else 0.0
        cuda.syncthreads()
        for j in range(TPB):
            if row < C.shape[0] and col < C.shape[1] and k + j < A.shape[1]:
                acc += A[row, k + j] * B[k + j, col]
        cuda.syncthreads()
    if row < C.shape[0] and col < C.shape[1]:
        C[row, col] = acc


@cuda.jit
def matmul_tiled_no_sync(A, B, C):
    sA = cuda.shared.array((TPB, TPB), float32)
    sB = cuda.shared.array((TPB, TPB), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    acc = float32(0.0)
    for t in range((A.shape[1] + TPB - 1) // TPB):
        k = t * TPB
        sA[ty, tx] = A[row, k + tx] if row < A.shape[0] and k + tx < A.shape[1] else 0.0
        sB[ty, tx] = B[k + ty, col] if col < B.shape[1] and k + ty < B.shape[0] else 0.0
        for j in range(TPB):
            acc += sA[ty, j] * sB[j, tx]
    if row < C.shape[0] and col < C.shape[1]:
        C[row, col] = acc


def add_values(x, y):  # a helper without @cuda.jit(device=True): the simulator runs it, a GPU cannot
    return x + y


@cuda.jit
def vector_add_plain_helper(a, b, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = add_values(a[i], b[i])

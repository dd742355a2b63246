"""Wrong kernels as a class writes them, one per bug class and language, for chapters 2 to 5.

Each `Bug` names the chapter check that must reject it, the kernel in Numba (source text) and in
CUDA C, what the rejection must say, and a model of what the kernel does (`map`: where each
thread writes, given its coordinates `t`; `values`: what it computes instead), which
tests/kernels/test_bug_classes.py runs over hundreds of hidden draws without running a kernel.
`model=None`: the rejection does not depend on the draw (a parameter type, a race, a budget).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from autograder import kernels


@dataclass
class Bug:
    id: str                        # "<check>/<bug class>"
    check: str                     # "chNN_slug.check_name"
    numba: str | None              # Numba kernel as source text
    c: str | None                  # CUDA C source
    c_name: str
    error: type                    # the KernelError subclass (or AssertionError) expected
    message: str                   # a regex the message must match
    map: Callable | None = None    # t -> (index, guard): where an active thread writes
    values: Callable | None = None  # case, lang -> the output it leaves, or "oob"
    c_message: str | None = None   # where the CUDA C message differs
    numba_check: str | None = None  # where the Numba kernel goes to another check


def nb(body: str, params: str, name: str = "kernel") -> str:
    return f"@cuda.jit\ndef {name}({params}):\n" + "".join(f"    {line}\n" for line in body.strip().splitlines())


DIFF_C = 'extern "C" __global__ void adjacent_diff(const float* a, float* out, int n) {{\n{}\n}}'
SHIFT_C = 'extern "C" __global__ void shift(int k, float fill, const float* a, float* out, int n) {{\n{}\n}}'
MAT_C = ('extern "C" __global__ void matrix_add(const float* A, const float* B, float* out, int rows, int cols) {{\n'
         '{}\n}}')
MM_C = ('extern "C" __global__ void matmul_naive(const float* A, const float* B, float* C, int M, int K, int N) {{\n'
        '{}\n}}')
SIG_C = ('__device__ float sigmoid(float v) {{ {} }}\n'
         'extern "C" __global__ void sigmoid_2d(const float* x, float* out, int rows, int cols) {{\n'
         '    int col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y * blockDim.y + threadIdx.y;\n'
         '    if (row < rows && col < cols) out[row * cols + col] = sigmoid(x[row * cols + col]);\n}}')
STRIDE_C = 'extern "C" __global__ void scale_shift_stride(float* x, int n) {{\n{}\n}}'
TILE_C = '''#define TILE 16
extern "C" __global__ void matmul_tiled(const float* A, const float* B, float* C, int M, int K, int N) {{
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    int tx = threadIdx.x, ty = threadIdx.y;
    {index}
    float acc = 0.0f;
    for (int t = 0; t < K; t += TILE) {{
        As[ty][tx] = (row < M && t + tx < K) ? A[row * K + t + tx] : 0.0f;
        Bs[ty][tx] = (col < N && t + ty < K) ? B[(t + ty) * N + col] : 0.0f;
        {sync}
        for (int k = 0; k < TILE; ++k) acc += As[ty][k] * Bs[k][tx];
        {sync}
    }}
    if (row < M && col < N) C[row * N + col] = acc;
}}'''
TILE_NB = '''TILE = 16


@cuda.jit
def matmul_tiled(A, B, C):
    As = cuda.shared.array((TILE, TILE), float32)
    Bs = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    {index}
    M, K = A.shape
    N = B.shape[1]
    acc = float32(0.0)
    for t in range(0, K, TILE):
        As[ty, tx] = A[row, t + tx] if row < M and t + tx < K else float32(0.0)
        Bs[ty, tx] = B[t + ty, col] if col < N and t + ty < K else float32(0.0)
        {sync}
        for k in range(TILE):
            acc += As[ty, k] * Bs[k, tx]
        {sync}
    if row < M and col < N:
        C[row, col] = acc
'''
NAIVE_DECOY_C = '''#define TILE 16
extern "C" __global__ void matmul_tiled(const float* A, const float* B, float* C, int M, int K, int N) {
    __shared__ float As[TILE][TILE];          // declared, never used: still the naive kernel
    int col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < M && col < N) {
        float acc = 0.0f;
        for (int k = 0; k < K; ++k) acc += A[row * K + k] * B[k * N + col];
        C[row * N + col] = acc;
    }
}'''
NAIVE_DECOY_NB = '''TILE = 16


@cuda.jit
def matmul_tiled(A, B, C):
    As = cuda.shared.array((TILE, TILE), float32)   # declared, never used
    col, row = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0.0)
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc
'''

# index expressions of the 2-D bugs: (Numba, CUDA C, model)
ROWCOL = {
    "swapped": ("row, col = cuda.grid(2)",
                "int row = blockIdx.x * blockDim.x + threadIdx.x, col = blockIdx.y * blockDim.y + threadIdx.y;",
                lambda t: (t.bx * t.BX + t.tx, t.by * t.BY + t.ty)),
    "row_blockdim_x": ("row = cuda.blockIdx.y * cuda.blockDim.x + cuda.threadIdx.y\n"
                       "col = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x",
                       "int row = blockIdx.y * blockDim.x + threadIdx.y, col = blockIdx.x * blockDim.x + threadIdx.x;",
                       lambda t: (t.by * t.BX + t.ty, t.bx * t.BX + t.tx)),
    "col_blockdim_y": ("row = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y\n"
                       "col = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.x",
                       "int row = blockIdx.y * blockDim.y + threadIdx.y, col = blockIdx.x * blockDim.y + threadIdx.x;",
                       lambda t: (t.by * t.BY + t.ty, t.bx * t.BY + t.tx)),
    "no_block_index": ("row, col = cuda.threadIdx.y, cuda.threadIdx.x",
                       "int row = threadIdx.y, col = threadIdx.x;",
                       lambda t: (t.ty, t.tx)),
}
RIGHT_RC = lambda t: (t.by * t.BY + t.ty, t.bx * t.BX + t.tx)  # noqa: E731


def _guarded(rc):
    return lambda t: (rc(t), (rc(t)[0] < t.R) & (rc(t)[1] < t.C))


MATRIX_MESSAGES = {"swapped": "rows and columns swapped", "row_blockdim_x": "computed with blockDim.x",
                   "col_blockdim_y": "computed with blockDim.y", "no_block_index": "block \\(0, 0\\)|every block"}
BUGS: list[Bug] = []

# ---------------------------------------------------------------- ch02: adjacent difference, shift
def _shift_values(direction, lower=True, upper=True):
    """What a shift kernel leaves: out[i] = a[i - direction * k] where its guards let it read,
    fill elsewhere; "oob" where it reads outside a (CUDA C under ASan; the simulator too)."""
    def values(case, lang):
        k, fill, a = int(case.launch.args[0]), case.launch.args[1], case.launch.args[2]
        n = a.size
        j = np.arange(n) - direction * k
        reads = (j >= 0 if lower else True) & (j < n if upper else True)
        if (reads & ((j < 0) | (j >= n))).any():
            return "oob"
        return np.where(reads, a[np.clip(j, 0, max(n - 1, 0))], fill)
    return values


BUGS += [
    Bug("adjacent_diff/no_guard", "ch02_first_kernels.check_adjacent_diff",
        nb("i = cuda.grid(1)\nout[i] = a[i + 1] - a[i]", "a, out"),
        DIFF_C.format("    int i = blockIdx.x * blockDim.x + threadIdx.x;\n    out[i] = a[i + 1] - a[i];"), "adjacent_diff",
        kernels.OutOfBoundsError, "out-of-bounds .*(bounds guard|guard with the number of outputs)",
        map=lambda t: (t.bx * t.BX + t.tx, True)),
    Bug("adjacent_diff/guard_on_input", "ch02_first_kernels.check_adjacent_diff",
        nb("i = cuda.grid(1)\nif i < a.size:\n    out[i] = a[i + 1] - a[i]", "a, out"),
        DIFF_C.format("    int i = blockIdx.x * blockDim.x + threadIdx.x;\n    if (i < n) out[i] = a[i + 1] - a[i];"),
        "adjacent_diff", kernels.OutOfBoundsError, r"out-of-bounds .*of a\[\d+\]|out-of-bounds .*of out\[\d+\]",
        map=lambda t: (t.bx * t.BX + t.tx, t.bx * t.BX + t.tx < t.n + 1)),
    Bug("adjacent_diff/first_block_only", "ch02_first_kernels.check_adjacent_diff",
        nb("i = cuda.threadIdx.x\nif i < out.size:\n    out[i] = a[i + 1] - a[i]", "a, out"),
        DIFF_C.format("    int i = threadIdx.x;\n    if (i < n - 1) out[i] = a[i + 1] - a[i];"), "adjacent_diff",
        kernels.KernelError, "every block works on the same elements|one block",
        map=lambda t: (t.tx, t.tx < t.n)),
    Bug("adjacent_diff/block_size_hard_coded", "ch02_first_kernels.check_adjacent_diff",
        nb("i = cuda.blockIdx.x * 128 + cuda.threadIdx.x\nif i < out.size:\n    out[i] = a[i + 1] - a[i]", "a, out"),
        DIFF_C.format("    int i = blockIdx.x * 128 + threadIdx.x;\n    if (i < n - 1) out[i] = a[i + 1] - a[i];"),
        "adjacent_diff", kernels.KernelError, "never written|two threads|one thread|out-of-bounds",
        map=lambda t: (t.bx * 128 + t.tx, t.bx * 128 + t.tx < t.n)),
    Bug("adjacent_diff/index_16_bit", "ch02_first_kernels.check_adjacent_diff",
        nb("i = numba.uint16(cuda.grid(1))\nif i < out.size:\n    out[i] = a[i + 1] - a[i]", "a, out"),
        DIFF_C.format("    unsigned short i = blockIdx.x * blockDim.x + threadIdx.x;\n"
                      "    if (i < n - 1) out[i] = a[i + 1] - a[i];"),
        "adjacent_diff", kernels.KernelError, "OverflowError|out of bounds",
        map=lambda t: ((t.bx * t.BX + t.tx) % 65536, (t.bx * t.BX + t.tx) % 65536 < t.n),
        c_message="16-bit type"),
    Bug("adjacent_diff/size_t_n", "ch02_first_kernels.check_adjacent_diff", None,
        'extern "C" __global__ void adjacent_diff(const float* a, float* out, size_t n) {\n'
        '    size_t i = blockIdx.x * blockDim.x + threadIdx.x;\n    if (i < n - 1) out[i] = a[i + 1] - a[i];\n}',
        "adjacent_diff", kernels.ArgumentTypeError, r"`size_t n` receives np.int32, 4 bytes.*declare `int n`.*np.uint64"),
    Bug("shift/wrong_way", "ch02_first_kernels.check_shift",
        nb("i = cuda.grid(1)\nif i < out.size:\n    out[i] = a[i + k] if 0 <= i + k < a.size else fill", "k, fill, a, out"),
        SHIFT_C.format("    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
                       "    if (i < n) out[i] = (i + k >= 0 && i + k < n) ? a[i + k] : fill;"), "shift",
        kernels.WrongResult, r"looks like a\[i \+ k\]", values=_shift_values(-1)),
    Bug("shift/no_lower_bound", "ch02_first_kernels.check_shift",
        nb("i = cuda.grid(1)\nif i < out.size:\n    out[i] = a[i - k] if i - k < a.size else fill", "k, fill, a, out"),
        SHIFT_C.format("    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
                       "    if (i < n) out[i] = (i - k < n) ? a[i - k] : fill;"), "shift",
        kernels.OutOfBoundsError, r"out-of-bounds read of a\[-?\d+\]", values=_shift_values(1, lower=False)),
    Bug("shift/no_upper_bound", "ch02_first_kernels.check_shift",
        nb("i = cuda.grid(1)\nif i < out.size:\n    out[i] = a[i - k] if i - k >= 0 else fill", "k, fill, a, out"),
        SHIFT_C.format("    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
                       "    if (i < n) out[i] = (i - k >= 0) ? a[i - k] : fill;"), "shift",
        kernels.OutOfBoundsError, r"out-of-bounds read of a\[\d+\]", values=_shift_values(1, upper=False)),
    Bug("shift/no_fill", "ch02_first_kernels.check_shift",
        nb("i = cuda.grid(1)\nif i < out.size and 0 <= i - k < a.size:\n    out[i] = a[i - k]", "k, fill, a, out"),
        SHIFT_C.format("    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
                       "    if (i < n && i - k >= 0 && i - k < n) out[i] = a[i - k];"), "shift",
        kernels.WrongResult, "never written: write fill there",
        values=lambda case, lang: np.where(_shift_values(1)(case, lang) == case.launch.args[1], np.nan,
                                           _shift_values(1)(case, lang))),
    Bug("shift/double_fill", "ch02_first_kernels.check_shift", None,
        'extern "C" __global__ void shift(int k, double fill, const float* a, float* out, int n) {\n'
        '    int i = blockIdx.x * blockDim.x + threadIdx.x;\n'
        '    if (i < n) out[i] = (i - k >= 0 && i - k < n) ? a[i - k] : fill;\n}',
        "shift", kernels.ArgumentTypeError, r"`double fill` receives np.float32.*declare `float fill`"),
]

# ---------------------------------------------------------------- ch03: guarded, grid-stride
BUGS += [
    Bug("guarded/no_guard", "ch03_thread_hierarchy.check_guarded",
        nb("i = cuda.grid(1)\nx[i] = 2 * x[i] + 1", "x"),
        STRIDE_C.format("    int i = blockIdx.x * blockDim.x + threadIdx.x;\n    x[i] = 2.0f * x[i] + 1.0f;"),
        "scale_shift_stride", kernels.OutOfBoundsError, "out-of-bounds.*bounds guard",
        map=lambda t: (t.bx * t.BX + t.tx, True)),
    Bug("grid_stride/no_stride", "ch03_thread_hierarchy.check_grid_stride",
        nb("i = cuda.grid(1)\nif i < x.size:\n    x[i] = 2 * x[i] + 1", "x"),
        STRIDE_C.format("    int i = blockIdx.x * blockDim.x + threadIdx.x;\n    if (i < n) x[i] = 2.0f * x[i] + 1.0f;"),
        "scale_shift_stride", kernels.WrongResult, "exactly one grid's worth",
        map=lambda t: (t.bx * t.BX + t.tx, t.bx * t.BX + t.tx < t.n)),
    Bug("grid_stride/block_stride", "ch03_thread_hierarchy.check_grid_stride",
        nb("i = cuda.grid(1)\nwhile i < x.size:\n    x[i] = 2 * x[i] + 1\n    i += cuda.blockDim.x", "x"),
        STRIDE_C.format("    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x)\n"
                        "        x[i] = 2.0f * x[i] + 1.0f;"),
        "scale_shift_stride", kernels.KernelError, "must step by the whole grid.*not by|stepping by blockDim.x",
        map=lambda t: _loop(t, t.bx * t.BX + t.tx, t.BX)),
    Bug("grid_stride/index_16_bit", "ch03_thread_hierarchy.check_grid_stride", None,
        STRIDE_C.format("    for (unsigned short i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)\n"
                        "        x[i] = 2.0f * x[i] + 1.0f;"),
        "scale_shift_stride", kernels.KernelTimeout, "time limit",
        map=lambda t: _loop(t, t.bx * t.BX + t.tx, t.BX * t.GX, wrap=65536)),
]


def _loop(t, start, step, wrap=None):
    """A loop's elements: (index, guard), one column per turn; a 16-bit index that wraps never ends."""
    turns = np.arange(int(np.ceil(t.n / max(1, np.min(step)))) + 1)
    idx = start[..., None] + step * turns
    if wrap is not None and t.n >= wrap:
        return "hang"
    return idx, idx < t.n


# ---------------------------------------------------------------- ch04: matrix add, sigmoid
for key, (nb_idx, c_idx, rc) in ROWCOL.items():
    nb_body = nb_idx + "\nif row < out.shape[0] and col < out.shape[1]:\n    out[row, col] = A[row, col] + B[row, col]"
    BUGS.append(Bug(f"matrix_add/{key}", "ch04_2d_grids.check_matrix_add", nb(nb_body, "A, B, out"),
                    MAT_C.format(f"    {c_idx}\n    if (row < rows && col < cols) out[row * cols + col] = "
                                 f"A[row * cols + col] + B[row * cols + col];"), "matrix_add",
                    kernels.KernelError, MATRIX_MESSAGES[key], map=_guarded(rc)))
BUGS += [
    Bug("matrix_add/flattened_guard", "ch04_2d_grids.check_matrix_add",
        nb("col, row = cuda.grid(2)\nif row * out.shape[1] + col < out.size:\n    out[row, col] = A[row, col] + B[row, col]",
           "A, B, out"),
        MAT_C.format("    int col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y * blockDim.y + threadIdx.y;\n"
                     "    int i = row * cols + col;\n    if (i < rows * cols) out[i] = A[i] + B[i];"), "matrix_add",
        kernels.KernelError, "flattened index|own bound",
        map=lambda t: (RIGHT_RC(t), RIGHT_RC(t)[0] * t.C + RIGHT_RC(t)[1] < t.R * t.C)),
    Bug("matrix_add/no_guard", "ch04_2d_grids.check_matrix_add",
        nb("col, row = cuda.grid(2)\nout[row, col] = A[row, col] + B[row, col]", "A, B, out"),
        MAT_C.format("    int col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y * blockDim.y + threadIdx.y;\n"
                     "    out[row * cols + col] = A[row * cols + col] + B[row * cols + col];"), "matrix_add",
        kernels.OutOfBoundsError, "out-of-bounds", map=lambda t: (RIGHT_RC(t), True)),
    Bug("matrix_add/index_16_bit", "ch04_2d_grids.check_matrix_add", None,
        MAT_C.format("    int col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y * blockDim.y + threadIdx.y;\n"
                     "    unsigned short i = row * cols + col;\n"
                     "    if (row < rows && col < cols) out[i] = A[i] + B[i];"), "matrix_add",
        kernels.KernelError, "16-bit type",
        map=lambda t: ((RIGHT_RC(t)[0] * t.C + RIGHT_RC(t)[1]) % 65536, (RIGHT_RC(t)[0] < t.R) & (RIGHT_RC(t)[1] < t.C))),
    Bug("sigmoid/exp_over_one_plus_exp", "ch04_2d_grids.check_sigmoid",
        nb("col, row = cuda.grid(2)\nif row < out.shape[0] and col < out.shape[1]:\n"
           "    e = math.exp(x[row, col])\n    out[row, col] = e / (1.0 + e)", "x, out"),
        SIG_C.format("float e = expf(v); return e / (1.0f + e);"), "sigmoid_2d", kernels.WrongResult,
        r"got nan at x = (100|88\.8|inf).*overflows",
        values=lambda case, lang: _exp_form(case.launch.args[0], lang)),
    Bug("sigmoid/sign", "ch04_2d_grids.check_sigmoid",
        nb("col, row = cuda.grid(2)\nif row < out.shape[0] and col < out.shape[1]:\n"
           "    out[row, col] = 1.0 / (1.0 + math.exp(x[row, col]))", "x, out"),
        SIG_C.format("return 1.0f / (1.0f + expf(v));"), "sigmoid_2d", kernels.WrongResult, "sign of the exponent",
        values=lambda case, lang: _sign_flipped(case.launch.args[0])),
]


def _sign_flipped(x):
    with np.errstate(over="ignore"):
        return (1 / (1 + np.exp(x.astype(np.float64)))).astype(np.float32)


def _exp_form(x, lang):
    with np.errstate(over="ignore", invalid="ignore"):
        if lang == "c":                                    # float arithmetic, as expf
            e = np.exp(x.astype(np.float32))
            return (e / (np.float32(1) + e)).astype(np.float32)
        e = np.exp(x.astype(np.float64))                   # the simulator computes in Python floats
        return (e / (1 + e)).astype(np.float32)


# ---------------------------------------------------------------- ch05: naive, tiled, bias + sigmoid
for key, (nb_idx, c_idx, rc) in ROWCOL.items():
    nb_body = (nb_idx + "\nif row < C.shape[0] and col < C.shape[1]:\n    acc = float32(0.0)\n"
               "    for k in range(A.shape[1]):\n        acc += A[row, k] * B[k, col]\n    C[row, col] = acc")
    BUGS.append(Bug(f"naive/{key}", "ch05_matmul_layer.check_naive", nb(nb_body, "A, B, C", "matmul"),
                    MM_C.format(f"    {c_idx}\n    if (row < M && col < N) {{\n        float acc = 0.0f;\n"
                                f"        for (int k = 0; k < K; ++k) acc += A[row * K + k] * B[k * N + col];\n"
                                f"        C[row * N + col] = acc;\n    }}"), "matmul_naive",
                    kernels.KernelError, MATRIX_MESSAGES[key], map=_guarded(rc)))
BUGS += [
    Bug("naive/loop_bound_from_n", "ch05_matmul_layer.check_naive",
        nb("col, row = cuda.grid(2)\nif row < C.shape[0] and col < C.shape[1]:\n    acc = float32(0.0)\n"
           "    for k in range(C.shape[1]):\n        acc += A[row, k] * B[k, col]\n    C[row, col] = acc", "A, B, C", "matmul"),
        MM_C.format("    int col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y * blockDim.y + threadIdx.y;\n"
                    "    if (row < M && col < N) {\n        float acc = 0.0f;\n"
                    "        for (int k = 0; k < N; ++k) acc += A[row * K + k] * B[k * N + col];\n"
                    "        C[row * N + col] = acc;\n    }"), "matmul_naive",
        kernels.KernelError, "out-of-bounds|wrong result",
        values=lambda case, lang: _short_loop(case)),
    Bug("naive/index_16_bit", "ch05_matmul_layer.check_naive", None,
        MM_C.format("    int col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y * blockDim.y + threadIdx.y;\n"
                    "    unsigned short c = row * N + col;\n    if (row < M && col < N) {\n        float acc = 0.0f;\n"
                    "        for (int k = 0; k < K; ++k) acc += A[row * K + k] * B[k * N + col];\n"
                    "        C[c] = acc;\n    }"), "matmul_naive", kernels.KernelError, "16-bit type",
        map=lambda t: ((RIGHT_RC(t)[0] * t.C + RIGHT_RC(t)[1]) % 65536, (RIGHT_RC(t)[0] < t.R) & (RIGHT_RC(t)[1] < t.C))),
    Bug("tiled/naive_with_a_decoy_tile", "ch05_matmul_layer.check_tiled_c", NAIVE_DECOY_NB, NAIVE_DECOY_C,
        "matmul_tiled", kernels.OverBudget, r"reads \d+\.\d global elements of A and B per output.*budget",
        numba_check="ch05_matmul_layer.check_tiled_numba"),
    Bug("tiled/no_syncthreads", "ch05_matmul_layer.check_tiled_c",
        TILE_NB.format(index="col, row = cuda.grid(2)", sync="pass"),
        TILE_C.format(index="int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;", sync=""),
        "matmul_tiled", kernels.RaceError, "race.*(__syncthreads|cuda.syncthreads)",
        numba_check="ch05_matmul_layer.check_tiled_numba"),
    Bug("tiled/swapped", "ch05_matmul_layer.check_tiled_c",
        TILE_NB.format(index="row, col = cuda.grid(2)", sync="cuda.syncthreads()"),
        TILE_C.format(index="int col = blockIdx.y * TILE + ty, row = blockIdx.x * TILE + tx;", sync="__syncthreads();"),
        "matmul_tiled", kernels.KernelError, "wrong result|rows and columns swapped|out-of-bounds",
        map=_guarded(ROWCOL["swapped"][2]), numba_check="ch05_matmul_layer.check_tiled_numba"),
    Bug("layer/exp_over_one_plus_exp", "ch05_matmul_layer.check_layer",
        nb("i = cuda.grid(1)\nif i < y.size:\n    e = math.exp(z[i] + b[i])\n    y[i] = e / (1.0 + e)", "z, b, y",
           "bias_sigmoid"), None, "", kernels.WrongResult, "got nan at z \\+ b = .*overflows",
        values=lambda case, lang: _exp_form(case.launch.args[0] + case.launch.args[1], lang)),
]


def _short_loop(case):
    """C = A[:, :N] @ B[:N, :]: past K it reads outside A and B (out of bounds)."""
    A, B = case.launch.args[0], case.launch.args[1]
    m, k = A.shape
    n = B.shape[1]
    if n > k:
        return "oob"
    return (A[:, :n].astype(np.float64) @ B[:n, :].astype(np.float64)).astype(np.float32)


def by_id(bug_id: str) -> Bug:
    return next(b for b in BUGS if b.id == bug_id)

"""Every known bug class fails its chapter's check, visible and on every hidden draw, in Numba and CUDA C.

Two halves. Each wrong kernel (tests/scenarios/kernels/bug_classes.py) runs through its check
for real, visible and on one hidden draw, and must fail with the message its class deserves.
Then each bug's model runs over many hidden draws (`kernel_models`: no kernel runs, a draw
costs milliseconds), and every draw must reject it; a right kernel's model must pass them all,
so the models cannot reject everything. SWEEP_SEEDS=1000 sweeps more draws.
"""
from __future__ import annotations

import importlib
import os
import re
import zlib

import numpy as np
import pytest

import kernel_models as km
from scenarios.kernels.bug_classes import BUGS, RIGHT_RC, Bug, _loop

SEEDS = int(os.environ.get("SWEEP_SEEDS", "100"))
PAIRS = [(b, lang) for b in BUGS for lang, k in (("numba", b.numba), ("c", b.c)) if k]


def check_of(bug: Bug, lang: str):
    mod, fn = (bug.numba_check if lang == "numba" and bug.numba_check else bug.check).split(".")
    return getattr(importlib.import_module(f"autograder.{mod}"), fn)


def layer_numpy(W, x, b):
    return 1 / (1 + np.exp(-(W.astype(np.float64) @ x + b)))


def run_check(bug: Bug, lang: str, hidden: bool, seed: int):
    check, kernel = check_of(bug, lang), bug.numba if lang == "numba" else bug.c
    if check.__name__ == "check_layer":
        return check(layer_numpy, kernel, hidden=hidden, seed=seed, verbose=False)
    if check.__name__ == "check_tiled_numba":
        return check(kernel, hidden=hidden, seed=seed, verbose=False)
    return check(kernel, name=bug.c_name if lang == "c" else None, hidden=hidden, seed=seed, verbose=False)


@pytest.mark.parametrize("bug, lang", PAIRS, ids=[f"{b.id}-{lang}" for b, lang in PAIRS])
def test_wrong_kernel_fails_visible_and_hidden(bug, lang, capsys):
    seed = zlib.crc32(bug.id.encode()) % 10_000
    message = bug.c_message if lang == "c" and bug.c_message else bug.message
    for hidden in (False, True):
        with pytest.raises(bug.error) as err:
            run_check(bug, lang, hidden, seed)
        assert re.search(message, str(err.value), re.S), f"{bug.id} ({lang}, hidden={hidden}): {err.value}"
        if bug.map or bug.values:      # the model agrees with the run
            assert km.rejected(bug, lang, hidden, seed), f"{bug.id}: the model passes what the check rejected"


SWEEPS = sorted({(b.numba_check if lang == "numba" and b.numba_check else b.check, lang)
                 for b, lang in PAIRS if b.map or b.values})
RIGHT_MAP = {  # a right kernel's model for each kind of check: it must pass every draw
    "check_elementwise": lambda t: (t.bx * t.BX + t.tx, t.bx * t.BX + t.tx < t.n),
    "check_grid_stride": lambda t: _loop(t, t.bx * t.BX + t.tx, t.BX * t.GX),
}


@pytest.mark.parametrize("check, lang", SWEEPS, ids=[f"{c.split('.')[-1]}-{l}" for c, l in SWEEPS])
def test_every_bug_class_fails_on_every_hidden_draw(check, lang):
    bugs = [b for b, l in PAIRS if l == lang and (b.map or b.values)
            and (b.numba_check if lang == "numba" and b.numba_check else b.check) == check]
    name = check.split(".")[-1]
    right = RIGHT_MAP.get(name) or (RIGHT_MAP["check_elementwise"] if name in ("check_adjacent_diff", "check_shift",
                                                                               "check_guarded", "check_layer") else None)
    right_map = right or (lambda t: (RIGHT_RC(t), (RIGHT_RC(t)[0] < t.R) & (RIGHT_RC(t)[1] < t.C)))
    good = Bug("right", check, "", "", "", AssertionError, "", map=right_map)
    for seed in [None] + list(range(SEEDS)):
        hidden = seed is not None
        for bug in bugs:
            assert km.rejected(bug, lang, hidden, seed), f"{bug.id} ({lang}) passes the draw hidden={hidden}, seed={seed}"
        assert km.rejected(good, lang, hidden, seed) is None, f"the right kernel's model fails seed {seed}"


# ---------------------------------------------------------------- right kernels written other ways pass
CORRECT = [
    ("ch02_first_kernels.check_adjacent_diff", None, "@cuda.jit\ndef diff(a, out):\n"
     "    for i in range(cuda.grid(1), a.size - 1, cuda.gridsize(1)):\n        out[i] = a[i + 1] - a[i]\n"),
    ("ch02_first_kernels.check_adjacent_diff", "adjacent_diff",
     'extern "C" __global__ void adjacent_diff(const float* __restrict__ a, float* __restrict__ out, int n) {\n'
     '    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i + 1 < n; i += blockDim.x * gridDim.x)\n'
     '        out[i] = __ldg(&a[i + 1]) - __ldg(&a[i]);\n}'),
    ("ch02_first_kernels.check_shift", None, "@cuda.jit\ndef sh(k, fill, a, out):\n    i = cuda.grid(1)\n"
     "    if i >= out.size:\n        return\n    v = fill\n    if i >= k and i - k < a.size:\n        v = a[i - k]\n"
     "    out[i] = v\n"),
    ("ch04_2d_grids.check_matrix_add", "matrix_add",
     'extern "C" __global__ void matrix_add(const float* A, const float* B, float* out, int rows, int cols) {\n'
     '    for (int r = blockIdx.y * blockDim.y + threadIdx.y; r < rows; r += blockDim.y * gridDim.y)\n'
     '        for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += blockDim.x * gridDim.x)\n'
     '            out[(size_t)r * cols + c] = A[(size_t)r * cols + c] + B[(size_t)r * cols + c];\n}'),
    ("ch04_2d_grids.check_sigmoid", "sigmoid_2d",
     '__device__ float sigmoid(float v) { return __fdividef(1.0f, 1.0f + __expf(-v)); }\n'
     'extern "C" __global__ void sigmoid_2d(const float* x, float* out, int rows, int cols) {\n'
     '    int col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y * blockDim.y + threadIdx.y;\n'
     '    if (row < rows && col < cols) out[row * cols + col] = sigmoid(x[row * cols + col]);\n}'),
    ("ch04_2d_grids.check_sigmoid", None, "@cuda.jit(device=True)\ndef stable(v):\n    if v >= 0:\n"
     "        return 1.0 / (1.0 + math.exp(-v))\n    e = math.exp(v)\n    return e / (1.0 + e)\n\n\n"
     "@cuda.jit\ndef sig(x, out):\n    col, row = cuda.grid(2)\n    if row < out.shape[0] and col < out.shape[1]:\n"
     "        out[row, col] = stable(x[row, col])\n"),
    ("ch05_matmul_layer.check_naive", "matmul_naive",
     'extern "C" __global__ void matmul_naive(const float* A, const float* B, float* C, int M, int K, int N) {\n'
     '    int col = blockIdx.x * blockDim.x + threadIdx.x, row = blockIdx.y * blockDim.y + threadIdx.y;\n'
     '    if (row >= M || col >= N) return;\n    double acc = 0.0;\n#pragma unroll 4\n'
     '    for (int k = 0; k < K; ++k) acc = fma((double)A[row * K + k], (double)B[k * N + col], acc);\n'
     '    C[row * N + col] = (float)acc;\n}'),
    ("ch05_matmul_layer.check_naive", None, "@cuda.jit\ndef mm(A, B, C):\n    col, row = cuda.grid(2)\n"
     "    if row < C.shape[0] and col < C.shape[1]:\n        acc = float64(0.0)\n"
     "        for k in range(A.shape[1]):\n            acc += float64(A[row, k]) * B[k, col]\n        C[row, col] = acc\n"),
    ("ch05_matmul_layer.check_tiled_c", "matmul_tiled", '''
template <int T> __device__ __forceinline__ float tile_dot(const float (*As)[T], const float (*Bs)[T], int ty, int tx) {
    float acc = 0.0f;
#pragma unroll
    for (int k = 0; k < T; ++k) acc = fmaf(As[ty][k], Bs[k][tx], acc);
    return acc;
}
extern "C" __global__ void __launch_bounds__(256) matmul_tiled(const float* __restrict__ A, const float* __restrict__ B,
                                                               float* __restrict__ C, int M, int K, int N) {
    __shared__ float As[16][16], Bs[16][16];
    int tx = threadIdx.x, ty = threadIdx.y, row = blockIdx.y * 16 + ty, col = blockIdx.x * 16 + tx;
    float acc = 0.0f;
    for (int t = 0; t < K; t += 16) {
        As[ty][tx] = (row < M && t + tx < K) ? __ldg(&A[row * K + t + tx]) : 0.0f;
        Bs[ty][tx] = (col < N && t + ty < K) ? __ldg(&B[(t + ty) * N + col]) : 0.0f;
        __syncthreads();
        acc += tile_dot<16>(As, Bs, ty, tx);
        __syncthreads();
    }
    if (row < M && col < N) C[row * N + col] = acc;
}'''),
]


@pytest.mark.parametrize("check, name, kernel", CORRECT, ids=[f"{c.split('.')[-1]}-{n or 'numba'}-{i}"
                                                              for i, (c, n, _) in enumerate(CORRECT)])
def test_right_kernels_written_other_ways_pass(check, name, kernel):
    mod, fn = check.split(".")
    check_fn = getattr(importlib.import_module(f"autograder.{mod}"), fn)
    for hidden in (False, True):
        check_fn(kernel, name=name, hidden=hidden, seed=7, verbose=False)

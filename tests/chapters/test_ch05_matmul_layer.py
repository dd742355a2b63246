"""Chapter 5: the checks fail the known-wrong answers for the right reason, and nbgrader grades right."""
import math

import numpy as np
import pytest
from numba import cuda, float32

from autograder import ch05_matmul_layer as ch05
from autograder import kernels
from conftest import release, scenario, solved

SLUG = "ch05_matmul_layer"
TILE = 16


def define(src, name):
    """What an answer cell defines as `name` (a CUDA C kernel's source text, say)."""
    ns = {}
    exec(src, ns)
    return ns[name]


NO_SYNC_C = define(scenario(SLUG, "c_tiled_no_sync")["tiled_c_answer"], "TILED_SRC")
NO_GUARD_TILED_C = define(scenario(SLUG, "c_tiled_no_guard")["tiled_c_answer"], "TILED_SRC")


# ---------------------------------------------------------------- known-wrong kernels
@cuda.jit
def naive_swapped(A, B, C):          # x taken as the row: the grid covers N rows and M columns
    row, col = cuda.grid(2)
    if row < C.shape[0] and col < C.shape[1]:
        acc = float32(0.0)
        for k in range(A.shape[1]):
            acc += A[row, k] * B[k, col]
        C[row, col] = acc


@cuda.jit
def naive_no_guard(A, B, C):
    col, row = cuda.grid(2)
    acc = float32(0.0)
    for k in range(A.shape[1]):
        acc += A[row, k] * B[k, col]
    C[row, col] = acc


@cuda.jit
def tiled_over_budget(A, B, C):      # "tiled", but the inner loop reads A and B from global memory
    As = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    acc = float32(0.0)
    for t in range(0, A.shape[1], TILE):
        As[ty, tx] = A[row, t + tx] if row < A.shape[0] and t + tx < A.shape[1] else float32(0.0)
        cuda.syncthreads()
        for k in range(TILE):
            if row < C.shape[0] and col < C.shape[1] and t + k < A.shape[1]:
                acc += A[row, t + k] * B[t + k, col]
        cuda.syncthreads()
    if row < C.shape[0] and col < C.shape[1]:
        C[row, col] = acc


@cuda.jit
def bias_sigmoid_no_guard(z, b, y):
    i = cuda.grid(1)
    y[i] = 1.0 / (1.0 + math.exp(-(z[i] + b[i])))


def layer_numpy_no_bias(W, x, b):    # a layer that forgets b
    return 1 / (1 + np.exp(-(W @ x)))


def layer_numpy(W, x, b):
    return 1 / (1 + np.exp(-(W.astype(np.float64) @ x + b)))


@cuda.jit
def bias_sigmoid_ok(z, b, y):
    i = cuda.grid(1)
    if i < y.size:
        y[i] = 1.0 / (1.0 + math.exp(-(z[i] + b[i])))


# ---------------------------------------------------------------- arithmetic and reference kernels
def test_arithmetic_by_hand():
    assert ch05.flops(2, 3, 4) == 48                  # 2 * 3 * 4 multiply-adds, 2 flops each
    assert ch05.naive_reads(48) == 96                 # a row of A (48) and a column of B (48)
    assert ch05.tiled_reads(48) == 6                  # 3 tile steps x (1 of A + 1 of B)
    assert ch05.tiled_reads(40) == 6                  # ceil(40 / 16) = 3 steps as well


def test_reference_c_kernels_pass():
    for hidden in (False, True):
        ch05.check_naive(ch05.NAIVE_C, name="matmul_naive", hidden=hidden)
        ch05.check_tiled_c(ch05.TILED_C, name="matmul_tiled", hidden=hidden)


def test_simulator_counts_reads_per_output():
    shapes = [(16, 16, 16), (16, 48, 16)]
    # 2 * K like the naive kernel, plus its one tile load of A per step: 32 + 1, 96 + 3
    assert ch05.reads_per_output(tiled_over_budget, shapes) == [33.0, 99.0]


# ---------------------------------------------------------------- wrong answers fail for their reason
@pytest.mark.parametrize("kernel, name, message", [
    (naive_swapped, None, r"A 20x3 @ B 3x9.*C\[16, 0\].*never written.*rows and columns swapped"),
    (naive_no_guard, None, r"out-of-bounds"),
    (NO_GUARD_TILED_C, "matmul_tiled", r"AddressSanitizer|out-of-bounds"),
])
def test_wrong_naive_kernels_fail(kernel, name, message):
    with pytest.raises(kernels.KernelError, match=message):
        ch05.check_naive(kernel, name=name)


def test_wrong_tiled_c_kernels_fail():
    with pytest.raises(kernels.RaceError, match=r"race found by ThreadSanitizer on the __shared__ array"):
        ch05.check_tiled_c(NO_SYNC_C, name="matmul_tiled")
    with pytest.raises(AssertionError, match="has no __shared__"):
        ch05.check_tiled_c(ch05.NAIVE_C, name="matmul_naive")
    with pytest.raises(AssertionError, match="needs its name"):
        ch05.check_tiled_c(ch05.TILED_C, name=None)


def test_over_budget_tiled_numba_fails():
    with pytest.raises(kernels.OverBudget, match=r"reads 99\.0 global elements .* budget 12"):
        ch05.check_tiled_numba(tiled_over_budget)


def test_layer_check():
    ch05.check_layer(layer_numpy, bias_sigmoid_ok, hidden=True)
    with pytest.raises(AssertionError, match=r"y\[0\] = .*torch gives"):
        ch05.check_layer(layer_numpy_no_bias, bias_sigmoid_ok)
    with pytest.raises(kernels.OutOfBoundsError, match="out-of-bounds"):
        ch05.check_layer(layer_numpy, bias_sigmoid_no_guard)


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch05.record()


# ---------------------------------------------------------------- the notebooks
def test_autograde_round_trip(course):
    c = course(SLUG, timeout=120)
    c.submit("submitted-solution", solved(SLUG))
    c.submit("submitted-unchanged", release(SLUG))
    # the layer is built on its own matmul, independent of the broken one: it keeps its points
    c.submit("submitted-no-guard-no-sync-over-budget", solved(SLUG, **scenario(SLUG, "no_guard_no_sync_over_budget")))
    c.submit("submitted-swapped", solved(SLUG, **scenario(SLUG, "swapped")))
    c.autograde()
    assert c.scores() == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-no-guard-no-sync-over-budget": 4,   # the layer, on its own matmul, and the naive C kernel
        "submitted-swapped": 4,                        # both naive kernels and the layer that uses one fail
    }
    out = "".join(o.get("text", "") for cell in c.graded("submitted-solution").cells
                  for o in cell.get("outputs", []))
    assert out.count("matmul (matmul_tiled): passed") == 4          # visible and hidden, C and Numba
    assert out.count("matmul (matmul_naive): passed") == 2          # the naive CUDA C kernel, visible and hidden
    wrong = c.output("submitted-swapped", "naive_c_check")
    assert "computed with blockDim.x" in wrong and "CPU shim" in wrong
    assert out.count("layer: sigmoid(W @ x + b) matches torch") == 2

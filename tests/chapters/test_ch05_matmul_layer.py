"""Chapter 5: the checks fail the known-wrong answers for the right reason, and nbgrader grades right."""
import linecache
import math

import numpy as np
import pytest
from numba import cuda, float32

from autograder import ch05_matmul_layer as ch05
from autograder import kernels
from conftest import release, scenario, solution, solved, unmarked

SLUG = "ch05_matmul_layer"
TILE = 16


def define(src, name):
    """What an answer cell defines as `name` (a CUDA C kernel's source text, say)."""
    ns = {}
    exec(src, ns)
    return ns[name]


# the page's checks: the course's tiled kernel with its barriers, or its final guard, taken out
NO_SYNC_C = ch05.TILED_C.replace("__syncthreads();", "")
NO_GUARD_TILED_C = ch05.TILED_C.replace("if (row < M && col < N) C[row * N + col]", "C[row * N + col]")


def answers(situation: str | None = None) -> dict:
    """The exercise's answer cells run in order in one namespace, as a notebook runs them (their
    source readable by `inspect`, as `defined` makes it): the solution's cells, with a
    scenario's in place of those it gives."""
    given = scenario(SLUG, situation) if situation else {}
    ns = {"__name__": "__main__"}
    for c in solution(SLUG).cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("solution"):
            code = unmarked(given.get(meta["grade_id"], c.source))
            filename = f"<answer {meta['grade_id']} {abs(hash(code))}>"
            linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
            exec(compile(code, filename, "exec"), ns)
    return ns


SOLVED = answers()
NO_SYNC_NT = define(scenario(SLUG, "c_tiled_no_sync")["tiled_nt_answer"], "TILED_NT_SRC")
NO_GUARD_NT = define(scenario(SLUG, "c_tiled_no_guard")["tiled_nt_answer"], "TILED_NT_SRC")


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


# ---------------------------------------------------------------- the exercise: other cases than the page's
PAGE = answers("page_pasted")          # the page's code, renamed to the exercise's names


@cuda.jit
def pairs_reads_a_twice(A, B, C):    # two columns per thread, but A read again for the second
    row = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
    col = cuda.blockIdx.x * 2 * cuda.blockDim.x + cuda.threadIdx.x
    for c in (col, col + cuda.blockDim.x):
        if row < C.shape[0] and c < C.shape[1]:
            acc = float32(0.0)
            for k in range(A.shape[1]):
                acc += A[row, k] * B[k, c]
            C[row, c] = acc


@cuda.jit(device=True)
def softplus_overflows(v):
    return math.log(1.0 + math.exp(v))


@cuda.jit
def bias_softplus_overflows(Z, b, Y):
    col, row = cuda.grid(2)
    if row < Y.shape[0] and col < Y.shape[1]:
        Y[row, col] = softplus_overflows(Z[row, col] + b[col])


@cuda.jit
def bias_softplus_by_row(Z, b, Y):   # the bias indexed by the row: right only where rows == cols
    col, row = cuda.grid(2)
    if row < Y.shape[0] and col < Y.shape[1]:
        v = Z[row, col] + b[min(row, b.size - 1)]
        Y[row, col] = max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def test_exercise_solution_passes_hidden_draws():
    for seed in (1, 2):
        ch05.check_pairs(SOLVED["matmul_pairs"], hidden=True, seed=seed)
        ch05.check_linear_c(SOLVED["LINEAR_SRC"], name="linear", hidden=True, seed=seed)
        ch05.check_tiled_nt(SOLVED["TILED_NT_SRC"], name="matmul_tiled_nt", hidden=True, seed=seed)


def test_pairs_check_fails_the_page_copy_and_known_wrong_kernels():
    with pytest.raises(kernels.WrongResult, match="never written.*a block covers 2 \\* blockDim.x columns"):
        ch05.check_pairs(PAGE["matmul_pairs"])
    with pytest.raises(kernels.OverBudget, match=r"reads 96\.0 global elements .* budget 72.*load its A element once"):
        ch05.check_pairs(pairs_reads_a_twice)
    with pytest.raises(kernels.OutOfBoundsError):
        ch05.check_pairs(answers("no_guard_no_sync_over_budget")["matmul_pairs"])
    with pytest.raises(kernels.KernelError):
        ch05.check_pairs(answers("swapped")["matmul_pairs"])


def test_linear_check_fails_the_page_copy_and_a_forgotten_bias():
    with pytest.raises(kernels.WrongResult):
        ch05.check_linear_c(PAGE["LINEAR_SRC"], name="linear")
    no_bias = SOLVED["LINEAR_SRC"].replace("float acc = b[col];", "float acc = 0.0f;")
    with pytest.raises(kernels.WrongResult, match=r"without the bias: add b\["):
        ch05.check_linear_c(no_bias, name="linear")
    with pytest.raises(kernels.WrongResult, match="computed with blockDim.x"):
        ch05.check_linear_c(answers("swapped")["LINEAR_SRC"], name="linear")
    with pytest.raises(AssertionError, match="needs its name"):
        ch05.check_linear_c(SOLVED["LINEAR_SRC"], name=None)


def test_batch_layer_check():
    with pytest.raises(kernels.KernelError, match=r"exp\(1000\) overflows|overflow|OverflowError"):
        ch05.check_batch_layer(SOLVED["layer"], bias_softplus_overflows)
    with pytest.raises(kernels.WrongResult, match="one bias per column"):
        ch05.check_batch_layer(SOLVED["layer"], bias_softplus_by_row)
    with pytest.raises(kernels.KernelError):                  # the page's 1-D sigmoid kernel, renamed
        ch05.check_batch_layer(PAGE["layer"], PAGE["bias_softplus"])
    with pytest.raises(AssertionError, match=r"Y\[0, 0\] = .*torch gives"):   # the page's layer on the right kernel
        ch05.check_batch_layer(lambda X, W, b: SOLVED["layer"](X, W, np.zeros_like(b)), SOLVED["bias_softplus"])


def test_tiled_nt_check_fails_the_page_copy_race_and_missing_guard():
    with pytest.raises(kernels.WrongResult, match=r"A @ B.T|wrong result"):
        ch05.check_tiled_nt(PAGE["TILED_NT_SRC"], name="matmul_tiled_nt")
    with pytest.raises(kernels.RaceError, match=r"race found by ThreadSanitizer on the __shared__ array"):
        ch05.check_tiled_nt(NO_SYNC_NT, name="matmul_tiled_nt")
    with pytest.raises(kernels.KernelError, match=r"AddressSanitizer|out-of-bounds"):
        ch05.check_tiled_nt(NO_GUARD_NT, name="matmul_tiled_nt")
    with pytest.raises(AssertionError, match="has no __shared__"):
        ch05.check_tiled_nt(SOLVED["LINEAR_SRC"], name="linear")


def test_tiled_pairs_check_fails_the_page_copy_and_over_budget():
    with pytest.raises(kernels.WrongResult, match="never written"):
        ch05.check_tiled_pairs(PAGE["matmul_tiled_pairs"])
    with pytest.raises(kernels.OverBudget, match=r"budget 4\.5.*load its A tile once"):
        ch05.check_tiled_pairs(answers("no_guard_no_sync_over_budget")["matmul_tiled_pairs"])


# ---------------------------------------------------------------- the notebooks
def test_autograde_round_trip(course):
    c = course(SLUG, timeout=120)
    c.submit("submitted-solution", solved(SLUG))
    c.submit("submitted-unchanged", release(SLUG))
    # the layer is built on its own matmul, independent of the broken one: it keeps its points
    c.submit("submitted-no-guard-no-sync-over-budget", solved(SLUG, **scenario(SLUG, "no_guard_no_sync_over_budget")))
    c.submit("submitted-swapped", solved(SLUG, **scenario(SLUG, "swapped")))
    c.submit("submitted-page-pasted", solved(SLUG, **scenario(SLUG, "page_pasted")))
    c.autograde()
    assert c.scores() == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-no-guard-no-sync-over-budget": 4,   # the layer, on its own matmul, and the linear C kernel
        "submitted-swapped": 4,                        # both one-thread kernels and the layer that uses one fail
        "submitted-page-pasted": 0,                    # the page's code answers none of the exercise's cases
    }
    out = "".join(o.get("text", "") for cell in c.graded("submitted-solution").cells
                  for o in cell.get("outputs", []))
    assert out.count("matmul, two columns per thread (matmul_pairs): passed") == 2
    assert out.count("matmul, two columns per thread (matmul_tiled_pairs): passed") == 2
    assert out.count("matmul (matmul_tiled_nt): passed") == 2       # visible and hidden
    assert out.count("linear (linear): passed") == 2
    wrong = c.output("submitted-swapped", "linear_c_check")
    assert "computed with blockDim.x" in wrong and "CPU shim" in wrong
    assert out.count("layer: softplus(X @ W.T + b) matches torch") == 2

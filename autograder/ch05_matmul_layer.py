"""Chapter 5, matrix multiplication and a neural layer: naive and tiled matmul, y = sigmoid(Wx + b).

Layers, as elsewhere in the package: pure arithmetic (`flops`, `naive_reads`, `tiled_reads`),
measurement (`reads_per_output` in the simulator, `record` on a GPU), and the checks the
exercise calls. The checks are thin wrappers over `kernels.check_matmul` with the
chapter's own launches (`plan_*`): wide and tall blocks, sizes that are not multiples of the
block, a C past 65,536 elements, so that every known bug fails on every hidden draw.

Known limitations: on a CPU the Numba kernels run in the simulator (about 0.5 ms per CUDA
thread), so the shapes stay at a few thousand threads (of the C past 65,536 elements only the
last two blocks run there); read budgets are counted on the CPU, in the simulator and in the
CUDA C shim's counter; the layer check compares with torch on the CPU and cannot tell a kernel
from a torch call inside `layer`, so the sigmoid kernel is also checked on its own.
"""
from __future__ import annotations

import math
import re

import numpy as np

from . import kernels

SLUG = "ch05_matmul_layer"
FALLBACK = ("Numba kernels run in Numba's CUDA simulator (which also counts global-memory reads) "
            "and CUDA C kernels in a CPU shim under AddressSanitizer and ThreadSanitizer, so every "
            "check grades as on a GPU; matmul timings against torch come from a GPU run, when one "
            "is recorded.")
TILE = 16                     # tile width of the tiled kernels: blocks of TILE x TILE threads
LAYER_RTOL, LAYER_ATOL = 1e-4, 1e-5   # |y - torch| <= atol + rtol * |torch|, y in (0, 1)

# The reference kernels `record()` times on a GPU (the page and the exercise write their own).
NAIVE_C = r'''
extern "C" __global__ void matmul_naive(const float* A, const float* B, float* C, int M, int K, int N) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < M && col < N) {
        float acc = 0.0f;
        for (int k = 0; k < K; ++k) acc += A[row * K + k] * B[k * N + col];
        C[row * N + col] = acc;
    }
}
'''
TILED_C = r'''
#define TILE 16
extern "C" __global__ void matmul_tiled(const float* A, const float* B, float* C, int M, int K, int N) {
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
    float acc = 0.0f;
    for (int t = 0; t < K; t += TILE) {
        As[ty][tx] = (row < M && t + tx < K) ? A[row * K + t + tx] : 0.0f;
        Bs[ty][tx] = (col < N && t + ty < K) ? B[(t + ty) * N + col] : 0.0f;
        __syncthreads();
        for (int k = 0; k < TILE; ++k) acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    if (row < M && col < N) C[row * N + col] = acc;
}
'''


# ---------------------------------------------------------------- the arithmetic
def flops(m: int, k: int, n: int) -> int:
    """Floating-point operations of C = A @ B: one multiply and one add per (row, col, k)."""
    return 2 * m * k * n


def naive_reads(k: int) -> int:
    """Global elements one output of the naive kernel reads: a row of A and a column of B."""
    return 2 * k


def tiled_reads(k: int, tile: int = TILE) -> float:
    """Global elements per output of a tiled kernel: each of the block's tile*tile threads loads
    one element of A and one of B per tile step, and there are ceil(k / tile) steps."""
    return 2 * math.ceil(k / tile)


def reads_per_output(kernel, shapes, block=(TILE, TILE)) -> list[float]:
    """Global reads of A and B per element of C, counted by the simulator, for each (M, K, N)."""
    cases = kernels.matmul_cases(shapes, block, ("A", "B", "C"), np.random.default_rng(0))
    run = kernels.run_kernel(kernel, [c.launch for c in cases], backend="cpu", count_accesses=True)
    out = []
    for (m, _, n), acc in zip(shapes, run.accesses):
        out.append(sum(acc.reads.values()) / (m * n))
    return out


# ---------------------------------------------------------------- the checks
# The naive checks' launches: wide and tall blocks, M and N never multiples of them, K both above
# and below N, a tall C narrower than a wide block (rows and columns swapped show), one C past
# 65,536 elements (a 16-bit index); shapes as ((M, K, N), block).
VISIBLE_NAIVE = (((4, 4, 4), (8, 16)), ((3, 5, 2), (16, 8)), ((2, 7, 9), (8, 16)), ((13, 6, 11), (16, 8)),
                 ((20, 3, 9), (16, 4)), ((10, 14, 21), (4, 16)), ((263, 3, 251), (16, 8)))
NUMBA_LIMIT, C_LIMIT = 20, 40


def plan_naive(hidden: bool = False, seed: int | None = None, c_code: bool = False):
    """((M, K, N), block) launches of check_naive: fixed, or drawn from `kernels.plan_2d` with a K
    above N in one case and below it in another (a loop bound taken from the wrong matrix)."""
    if not hidden:
        return list(VISIBLE_NAIVE)
    rng = np.random.default_rng(seed)
    limit = C_LIMIT if c_code else NUMBA_LIMIT
    plan = []
    for j, ((m, n), block) in enumerate(kernels.plan_2d(rng, limit)):
        if m * n > kernels.WIDE_INDEX:
            k = int(rng.integers(2, 6))
        elif j == 1:
            k = n + int(rng.integers(1, 4))
        elif j == 2:
            k = int(rng.integers(1, n)) if n > 1 else 2
        else:
            k = int(rng.integers(1, limit + 1))
        plan.append(((m, k, n), block))
    return plan


def check_naive(kernel, name=None, hidden=False, verbose=True, seed=None):
    """C = A @ B, one thread per element of C, on non-square shapes with wide and tall blocks.

    Numba kernel(A, B, C); CUDA C kernel(const float* A, const float* B, float* C, int M, int K,
    int N), row-major; x walks along the columns of C, y along its rows.
    """
    kernels.need_name(kernel, name, "check_naive")
    plan = plan_naive(hidden, seed, kernels.is_cuda_c(kernel))
    return kernels.check_matmul(kernel, [b for _, b in plan], name=name, shapes=[s for s, _ in plan], seed=seed,
                                verbose=verbose)


def _bias_sigmoid_cases(plan, rng):
    cases = []
    for n, tpb in plan:
        z = kernels.with_extremes(rng.standard_normal(n).astype(np.float32) * 4, rng)
        b = rng.standard_normal(n).astype(np.float32)
        with np.errstate(over="ignore"):
            want = (1 / (1 + np.exp(-(z.astype(np.float64) + b)))).astype(np.float32)
        grid = kernels.grid_1d(n, tpb)
        tail = kernels.tail(grid) if n > kernels.WIDE_INDEX else None
        launch = kernels.Launch(grid, tpb, [z, b, np.full(n, np.nan, np.float32)], label=f"n={n}", blocks=tail)
        cases.append(kernels.Case(launch, {2: want}, names=["z", "b", "y"],
                                  compared={2: kernels.owned((n,), grid, tpb, tail)} if tail else {}))
    return cases


def _bias_sigmoid_hint(case, idx, got) -> str:
    v = float(case.launch.args[0][idx] + case.launch.args[1][idx])
    if np.isnan(got[idx]) and abs(v) > 80:
        return (f"got nan at z + b = {v:g}: exp({v:g}) overflows a float to inf, and inf / inf is nan. "
                f"y[i] = 1 / (1 + exp(-(z[i] + b[i])))")
    return kernels.vector_hint(case, idx, got) or "y[i] = 1 / (1 + exp(-(z[i] + b[i])))"


def plan_layer(hidden: bool = False, seed: int | None = None):
    """(bias_sigmoid's (n, threads per block) launches, the layer's (out, in) shapes)."""
    if not hidden:
        return [(1, 32), (5, 32), (33, 32), (100, 32), (70, 64), (65_601, 32)], [(20, 7)]
    rng = np.random.default_rng(seed)
    return kernels.plan_1d(rng, (32, 64), max_n=200), [(int(rng.integers(2, 31)), int(rng.integers(2, 31)))]


def check_layer(layer, bias_sigmoid, hidden=False, verbose=True, seed=None):
    """The Numba kernel bias_sigmoid(z, b, y): y[i] = sigmoid(z[i] + b[i]), on blocks of 32 and 64
    threads and z holding ±100, ±inf and denormals; then layer(W, x, b) against
    torch.sigmoid(W @ x + b) within LAYER_ATOL + LAYER_RTOL * |y|, one bias at ±100.

    W is (out, in), x (in,), b (out,), all float32; layer returns y of shape (out,).
    """
    import torch
    plan, shapes = plan_layer(hidden, seed)
    rng = np.random.default_rng(seed if hidden else 5)
    kernels.check_kernel(bias_sigmoid, lambda size: _bias_sigmoid_cases(plan, rng), check_name="bias + sigmoid",
                         hint=_bias_sigmoid_hint, verbose=verbose, advice=kernels.one_writer_advice,
                         single_writer=True)
    for out_f, in_f in shapes:
        W = rng.standard_normal((out_f, in_f)).astype(np.float32)
        x = rng.standard_normal(in_f).astype(np.float32)
        b = rng.standard_normal(out_f).astype(np.float32)
        b[rng.choice(out_f, size=2, replace=False)] = (100.0, -100.0)      # saturated outputs: 1 and 0
        want = torch.sigmoid(torch.from_numpy(W) @ torch.from_numpy(x) + torch.from_numpy(b)).numpy()
        got = layer(W.copy(), x.copy(), b.copy())
        if hasattr(got, "detach"):
            got = got.detach().cpu().numpy()
        got = np.asarray(got)
        if got.size != out_f:
            raise AssertionError(f"layer with W {out_f}x{in_f} should return {out_f} values (one per row "
                                 f"of W), got shape {got.shape}")
        found = kernels.first_mismatch(want, got.reshape(want.shape), LAYER_RTOL, LAYER_ATOL)
        if found is not None:
            (i,), nbad = found
            raise AssertionError(
                f"layer with W {out_f}x{in_f}: y[{i}] = {float(got.ravel()[i]):.6g}, torch gives "
                f"{float(want[i]):.6g} ({nbad} of {out_f} wrong; b[{i}] = {float(b[i]):.4g}). z = W @ x is a "
                f"matmul with x as an {in_f}x1 matrix (M={out_f}, K={in_f}, N=1), then y = sigmoid(z + b)")
    text = (f"layer: sigmoid(W @ x + b) matches torch within {LAYER_ATOL:g} + {LAYER_RTOL:g} * |y| "
            f"for W of shape{'s' * (len(shapes) > 1)} {', '.join(f'{o}x{i}' for o, i in shapes)}")
    if verbose:
        print(text)
    return text


def plan_tiled(hidden: bool = False, seed: int | None = None, c_code: bool = True):
    """(M, K, N) of the tiled checks, blocks of TILE x TILE: K past a tile and not a multiple of
    it, a tall C narrower than a tile and a wide one lower than a tile (rows and columns swapped
    show on the first or the second), M and N never multiples of the tile, one C past 65,536
    elements. Numba's are fewer and smaller: the simulator is slow."""
    if not hidden:
        shapes = [(1, 1, 1), (3, 5, 2), (17, 20, 18), (33, 40, 18), (20, 19, 5), (5, 18, 21), (263, 17, 251)]
        return shapes if c_code else [(3, 5, 2), (17, 20, 18), (20, 19, 5), (5, 18, 21), (263, 17, 251)]
    rng = np.random.default_rng(seed)
    top = 40 if c_code else 24
    k = lambda: kernels.off_multiple(rng, TILE + 1, 60 if c_code else 40, TILE)  # noqa: E731
    tall = (int(rng.integers(TILE + 1, top + 1)), k(), int(rng.integers(1, TILE)))
    wide = (int(rng.integers(1, TILE)), k(), int(rng.integers(TILE + 1, top + 1)))
    rows, cols = kernels.large_shape(rng, (TILE, TILE))
    shapes = [tall, wide, (rows, int(rng.integers(TILE + 1, 20)), cols)]
    if c_code:
        shapes.insert(0, (kernels.off_multiple(rng, TILE + 1, top, TILE), k(), kernels.off_multiple(rng, TILE + 1, top, TILE)))
    return shapes


def _tiled_budget_shape(hidden: bool, seed: int | None):
    return (TILE, 48, TILE) if not hidden else (TILE, int(np.random.default_rng(seed).choice((32, 40, 64))), TILE)


def check_tiled_c(source, name, hidden=False, verbose=True, seed=None):
    """A CUDA C matmul with TILE x TILE __shared__ tiles, blocks of 16 x 16, K larger than a tile
    and not a multiple of it, within a global-read budget counted in the CPU shim; run under the
    race check, so a missing __syncthreads() fails."""
    return _tiled_c(source, name, hidden, verbose, seed, "kn")


def _tiled_c(source, name, hidden, verbose, seed, b_layout):
    kernels.need_name(source, name, "check_tiled_c" if b_layout == "kn" else "check_tiled_nt")
    if not isinstance(source, str):
        raise AssertionError("this check takes the CUDA C source text and the kernel's name")
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", source, flags=re.S)   # comments do not count
    if "__shared__" not in code:   # a missing __syncthreads() is left to the race check, which says why
        raise AssertionError("this check grades a tiled kernel and the source has no __shared__: load "
                             "tiles of A and B into __shared__ arrays")
    shape = _tiled_budget_shape(hidden, seed)
    return kernels.check_matmul(source, (TILE, TILE), name=name, shapes=plan_tiled(hidden, seed, True),
                                max_reads_per_output=2 * tiled_reads(shape[1]), budget_shape=shape, seed=seed,
                                verbose=verbose, b_layout=b_layout)


def check_tiled_numba(kernel, hidden=False, verbose=True, seed=None):
    """A Numba matmul with TILE x TILE shared tiles, blocks of 16 x 16, within a global-read budget.

    The budget is twice what a tiled kernel reads, 4 * ceil(K / 16) elements of A and B per
    output, counted in the simulator; a naive kernel reads 2 * K.
    """
    shape = _tiled_budget_shape(hidden, seed)
    return kernels.check_matmul(kernel, (TILE, TILE), shapes=plan_tiled(hidden, seed, False),
                                max_reads_per_output=2 * tiled_reads(shape[1]), budget_shape=shape, seed=seed,
                                verbose=verbose)


# ---------------------------------------------------------------- the exercise's checks
# The exercise asks what the page does not show: two columns of C per thread (col and col +
# blockDim.x, so the A element or tile a thread loads serves both), a batch through a layer
# stored as torch stores one (Y = X @ W.T + b, W of shape out x in) with a softplus that must
# not overflow, and a tiled A @ B.T. Expected values come from NumPy in float64 and from torch.
PAIR_BUDGET = 1.5     # reads of A and B per output and per element of K (or per tile step): 3 for 2 outputs


def _pairs_hint(case, idx, got) -> str:
    width = kernels.index_width_hint(case, idx, got)
    if width:
        return width
    bx = case.launch.block3[0]
    col = int(idx[-1])
    return (f"C[{int(idx[0])}, {col}] belongs to thread x = {col % bx} of block x = {col // (2 * bx)} (its "
            f"{'second' if col % (2 * bx) >= bx else 'first'} column): a block covers 2 * blockDim.x columns, "
            f"col = blockIdx.x * 2 * blockDim.x + threadIdx.x and col + blockDim.x")


def _pair_budget(shape, tiled: bool):
    """The budget of a two-columns-per-thread kernel on `shape`, as check_kernel takes it."""
    m, k, n = shape
    steps = math.ceil(k / TILE) if tiled else k
    limit = PAIR_BUDGET * steps
    unit = f"{steps} tile steps" if tiled else f"K = {k}"

    def budget(acc) -> str:
        per_out = (acc.reads.get("A", 0) + acc.reads.get("B", 0)) / (m * n)
        text = (f"reads {per_out:.1f} global elements of A and B per output (A {m}x{k} @ B {k}x{n}), "
                f"budget {limit:g} ({PAIR_BUDGET:g} per output for each of {unit})")
        if per_out > limit:
            return (f"over: {text}. Each thread computes two outputs of one row: load its A "
                    f"{'tile' if tiled else 'element'} once and use it for both columns "
                    f"({'2' if tiled else '2 * K'} reads per output is a kernel that loads it twice)")
        return text
    return budget


def _check_pairs(kernel, shapes, blocks, budget_shape, tiled, hidden, seed, verbose):
    rng = np.random.default_rng(seed)
    budget_cases = lambda: kernels.matmul_cases([budget_shape], (TILE, TILE), ("A", "B", "C"), rng,  # noqa: E731
                                                cols_per_thread=2)
    return kernels.check_kernel(
        kernel, lambda size: kernels.matmul_cases(shapes, blocks, ("A", "B", "C"), rng, cols_per_thread=2),
        check_name=f"matmul, two columns per thread ({kernels.kernel_name(kernel)})", hint=_pairs_hint,
        budget=_pair_budget(budget_shape, tiled), budget_cases=budget_cases, rtol=1e-3, atol=1e-3,
        verbose=verbose, advice=kernels.one_writer_advice, single_writer=True)


def check_pairs(kernel, hidden=False, verbose=True, seed=None):
    """C = A @ B with a Numba kernel(A, B, C) whose thread (x, y) computes two elements of row y:
    col = blockIdx.x * 2 * blockDim.x + threadIdx.x and col + blockDim.x; grid = (ceil(N /
    (2 * block.x)), ceil(M / block.y)), wide and tall blocks, N odd and even; within PAIR_BUDGET * K
    reads of A and B per output on A 16x48 @ B 48x32 (a kernel that reads A once per k for both)."""
    plan = plan_naive(hidden, seed)
    shapes = [(m, k, n + 1 - n % 2) if j == 1 else (m, k, n) for j, ((m, k, n), _) in enumerate(plan)]  # one odd N
    return _check_pairs(kernel, shapes, [b for _, b in plan], (TILE, 48, 2 * TILE), False, hidden, seed, verbose)


def _linear_cases(plan, rng):
    names = ["X", "W", "b", "Y", "M", "K", "N"]
    cases = []
    for c in kernels.matmul_cases([s for s, _ in plan], [b for _, b in plan], ("A", "B", "C", "M", "K", "N"),
                                  rng, b_layout="nk"):
        X, W, Y, m, k, n = c.launch.args
        b = rng.standard_normal(int(n)).astype(np.float32)
        want = (X.astype(np.float64) @ W.astype(np.float64).T + b).astype(np.float32)
        launch = kernels.Launch(c.launch.grid, c.launch.block, [X, W, b, Y, m, k, n],
                                label=f"X {int(m)}x{int(k)}, W {int(n)}x{int(k)}", blocks=c.launch.blocks)
        cases.append(kernels.Case(launch, {3: want}, names=names, square=c.square,
                                  compared={3: c.compared[2]} if c.compared else {}))
    return cases


def _linear_hint(case, idx, got) -> str:
    X, W, b = case.launch.args[:3]
    r, c = (int(i) for i in idx)
    if np.isclose(got[r, c], float(X[r].astype(np.float64) @ W[c]), rtol=1e-3, atol=1e-3):
        return f"Y[{r}, {c}] is X @ W.T without the bias: add b[{c}] (one bias per column of Y, per output)"
    return kernels.matrix_hint(case, idx, got) or (
        f"Y[{r}, {c}] = b[{c}] + sum over k of X[{r}, k] * W[{c}, k]: W is out x in, so row {c} of W "
        f"(W[{c} * K + k]) pairs with row {r} of X")


def check_linear_c(source, name, hidden=False, verbose=True, seed=None):
    """Y = X @ W.T + b in CUDA C, one thread per element of Y: kernel(const float* X, const float* W,
    const float* b, float* Y, int M, int K, int N) with X M x K, W N x K (a Linear layer's
    weight, out x in), b of N, row-major; the shapes and blocks of check_naive."""
    kernels.need_name(source, name, "check_linear_c", "linear")
    plan = plan_naive(hidden, seed, True)
    rng = np.random.default_rng(seed)
    return kernels.check_kernel(source, lambda size: _linear_cases(plan, rng), check_name=f"linear ({name})",
                                name=name, hint=_linear_hint, rtol=1e-3, atol=1e-3, verbose=verbose,
                                advice=kernels.one_writer_advice, single_writer=True)


def _softplus_cases(plan, rng):
    cases = []
    for (rows, cols), block in plan:
        Z = kernels.with_extremes(rng.standard_normal((rows, cols)).astype(np.float32) * 4, rng,
                                  (*kernels.EXTREMES, 1000.0, -1000.0))
        b = rng.standard_normal(cols).astype(np.float32)
        import torch
        want = torch.nn.functional.softplus(torch.from_numpy(Z.astype(np.float64) + b)).float().numpy()
        grid = kernels.grid_2d((rows, cols), block)
        tail = kernels.tail(grid) if rows * cols > kernels.WIDE_INDEX else None
        launch = kernels.Launch(grid, block, [Z, b, np.full((rows, cols), np.nan, np.float32)],
                                label=f"Z {rows}x{cols}", blocks=tail)
        cases.append(kernels.Case(launch, {2: want}, names=["Z", "b", "Y"], square=rows == cols,
                                  compared={2: kernels.owned((rows, cols), grid, block, tail)} if tail else {}))
    return cases


def _softplus_hint(case, idx, got) -> str:
    r, c = (int(i) for i in idx)
    v = float(case.launch.args[0][r, c] + case.launch.args[1][c])
    if abs(v) > 80:
        return (f"Z + b = {v:g} there: exp({abs(v):g}) overflows a float (to inf, or an error in the "
                f"simulator). softplus(v) = max(v, 0) + log1p(exp(-|v|)) never exponentiates a positive number")
    return kernels.matrix_hint(case, idx, got) or (f"Y[{r}, {c}] = softplus(Z[{r}, {c}] + b[{c}]): one bias "
                                                   f"per column, softplus(v) = log(1 + exp(v))")


def plan_batch_layer(hidden: bool = False, seed: int | None = None):
    """(bias_softplus' ((rows, cols), block) launches, the layer's (batch, in, out) shapes)."""
    if not hidden:
        return [((3, 5), (16, 8)), ((20, 9), (16, 4)), ((10, 21), (4, 16)), ((270, 250), (16, 8))], [(6, 7, 20)]
    rng = np.random.default_rng(seed)
    return kernels.plan_2d(rng, 20), [tuple(int(v) for v in rng.integers(2, 25, size=3))]


def check_batch_layer(layer, bias_softplus, hidden=False, verbose=True, seed=None):
    """The Numba kernel bias_softplus(Z, b, Y): Y[r, c] = softplus(Z[r, c] + b[c]) on wide and tall
    blocks, Z holding ±100, ±1000, ±inf; then layer(X, W, b) against torch's
    softplus(X @ W.T + b) within LAYER_ATOL + LAYER_RTOL * |y|, two biases at ±100.

    X is (batch, in), W (out, in) as torch.nn.Linear stores it, b (out,); layer returns (batch, out).
    """
    import torch
    plan, shapes = plan_batch_layer(hidden, seed)
    rng = np.random.default_rng(seed if hidden else 5)
    kernels.check_kernel(bias_softplus, lambda size: _softplus_cases(plan, rng), check_name="bias + softplus",
                         hint=_softplus_hint, verbose=verbose, advice=kernels.one_writer_advice, single_writer=True)
    for batch, in_f, out_f in shapes:
        X = rng.standard_normal((batch, in_f)).astype(np.float32)
        W = rng.standard_normal((out_f, in_f)).astype(np.float32)
        b = rng.standard_normal(out_f).astype(np.float32)
        b[rng.choice(out_f, size=2, replace=False)] = (100.0, -100.0)
        want = torch.nn.functional.softplus(torch.from_numpy(X) @ torch.from_numpy(W).T + torch.from_numpy(b)).numpy()
        got = layer(X.copy(), W.copy(), b.copy())
        got = np.asarray(got.detach().cpu().numpy() if hasattr(got, "detach") else got)
        if got.shape != want.shape:
            raise AssertionError(f"layer with X {batch}x{in_f} and W {out_f}x{in_f} should return {batch}x{out_f} "
                                 f"values (a row per input, a column per output), got shape {got.shape}")
        found = kernels.first_mismatch(want, got, LAYER_RTOL, LAYER_ATOL)
        if found is not None:
            (r, c), nbad = found
            raise AssertionError(
                f"layer with X {batch}x{in_f}, W {out_f}x{in_f}: Y[{r}, {c}] = {float(got[r, c]):.6g}, torch gives "
                f"{float(want[r, c]):.6g} ({nbad} of {want.size} wrong; b[{c}] = {float(b[c]):.4g}). X @ W.T is a "
                f"matmul of X ({batch}x{in_f}) with W.T ({in_f}x{out_f}), then Y = softplus(Z + b)")
    text = (f"layer: softplus(X @ W.T + b) matches torch within {LAYER_ATOL:g} + {LAYER_RTOL:g} * |y| for "
            + ", ".join(f"X {bt}x{i} and W {o}x{i}" for bt, i, o in shapes))
    if verbose:
        print(text)
    return text


def check_tiled_nt(source, name, hidden=False, verbose=True, seed=None):
    """C = A @ B.T in CUDA C with B stored N x K (rows of B are the columns of C), tiles of
    TILE x TILE in __shared__, blocks of 16 x 16; the shapes, race check and read budget of
    check_tiled_c. kernel(const float* A, const float* B, float* C, int M, int K, int N)."""
    return _tiled_c(source, name, hidden, verbose, seed, "nk")


def plan_tiled_pairs(hidden: bool = False, seed: int | None = None):
    """(M, K, N) of check_tiled_pairs (blocks of 16 x 16 covering 16 x 32 of C): K past a tile and
    not a multiple of it, C narrower than a block's 32 columns, wider than 32, past 65,536."""
    if not hidden:
        return [(3, 5, 2), (17, 20, 21), (20, 19, 5), (5, 18, 40), (263, 17, 251)]
    rng = np.random.default_rng(seed)
    k = lambda: kernels.off_multiple(rng, TILE + 1, 40, TILE)  # noqa: E731
    rows, cols = kernels.large_shape(rng, (2 * TILE, TILE))
    return [(int(rng.integers(TILE + 1, 24)), k(), kernels.off_multiple(rng, 2, 2 * TILE - 1, TILE)),
            (int(rng.integers(1, TILE)), k(), kernels.off_multiple(rng, 2 * TILE + 1, 48, TILE)),
            (rows, int(rng.integers(TILE + 1, 20)), cols)]


def check_tiled_pairs(kernel, hidden=False, verbose=True, seed=None):
    """A Numba tiled matmul whose 16 x 16 threads cover 16 rows and 32 columns of C: thread (x, y)
    computes C[row, col] and C[row, col + 16], from one 16 x 16 tile of A and a 16 x 32 tile of B
    in shared memory per step; grid = (ceil(N / 32), ceil(M / 16)). Budget: PAIR_BUDGET reads of A
    and B per output and tile step (A 16x48 @ B 48x32), so the A tile serves both columns."""
    shapes = plan_tiled_pairs(hidden, seed)
    budget_shape = _tiled_budget_shape(hidden, seed)[:2] + (2 * TILE,)
    return _check_pairs(kernel, shapes, (TILE, TILE), budget_shape, True, hidden, seed, verbose)


# ---------------------------------------------------------------- the GPU figures
SIZES = (128, 256, 512, 1024, 2048, 4096)


def record(sizes=SIZES, repeats: int = 5, dry: bool = False) -> dict:
    """Naive kernel, tiled kernel and torch.matmul on square float32 matrices, on the GPU.

    Check before you time: each kernel's result is compared with torch's first. Then one warm-up
    launch and `repeats` timed ones with device events; medians in ms, and GFLOP/s = 2 n^3 / t.
    TF32 is switched off so that torch does the same fp32 arithmetic as the kernels, and put
    back as it was afterwards. dry: the same walk through the CPU stand-in, one small size.
    """
    import torch
    b = kernels.bench(dry)
    if dry:
        sizes, repeats = (24,), 1
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        ms = _matmul_times(b, sizes, repeats)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    gflops = {k: [flops(n, n, n) / (t * 1e-3) / 1e9 for n, t in zip(sizes, v)] for k, v in ms.items()}
    return {"sizes": list(sizes), "ms": ms, "gflops": gflops, "tile": TILE, "tf32": False, "repeats": repeats}


def _matmul_times(b, sizes, repeats) -> dict:
    import torch
    raw = {"naive": b.raw_kernel(NAIVE_C, "matmul_naive"), "tiled": b.raw_kernel(TILED_C, "matmul_tiled")}
    ms = {"naive": [], "tiled": [], "torch": []}
    for n in sizes:
        A, B = b.randn((n, n)), b.randn((n, n))
        At, Bt = torch.as_tensor(A, device=b.torch_device), torch.as_tensor(B, device=b.torch_device)
        want = torch.matmul(At, Bt)
        for kind, kern in raw.items():
            C = b.xp.full((n, n), np.nan, dtype=np.float32)
            grid = ((n + TILE - 1) // TILE, (n + TILE - 1) // TILE)
            args = (A, B, C, np.int32(n), np.int32(n), np.int32(n))
            launch = lambda kern=kern, grid=grid, args=args: kern(grid, (TILE, TILE), args)  # noqa: E731
            launch()
            b.sync()
            err = float((torch.as_tensor(C, device=b.torch_device) - want).abs().max()) / float(want.abs().max())
            if not err < 1e-4:
                raise AssertionError(f"{kind} kernel differs from torch.matmul at n={n}: relative error {err:.2e}")
            ms[kind].append(b.median_ms(launch, repeats))
        ms["torch"].append(b.median_ms(lambda: torch.matmul(At, Bt), repeats))
    return ms

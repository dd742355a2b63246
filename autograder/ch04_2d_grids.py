"""Chapter 4, more dimensions and device functions: 2-D launches, coalescing, a __device__ sigmoid.

Three layers, as elsewhere in the package: pure arithmetic (`launch_2d`, `warp_cells`,
`warp_sectors`: which addresses one warp touches), the picture (`warp_picture`), and the checks:
those the page runs on its own kernels (matrix add, sigmoid) and those the exercise calls on the
cases the page does not show (transpose, a batched 3-D launch, a bias add over it, softplus),
thin wrappers over `kernels`' checks with the chapter's own shapes, blocks and hints. `record()`
times the two layouts of a matrix add on a GPU; nothing here grades a timing.

Known limitations: on a CPU the Numba kernels run in the simulator (about 0.5 ms per CUDA
thread), so the Numba shapes stay under a few thousand threads; the sector counts model one
warp's request only (no caches), so they bound the coalescing penalty rather than predict it.
"""
from __future__ import annotations

import math
import random
import re

import numpy as np

from . import kernels

SLUG = "ch04_2d_grids"
FALLBACK = ("Numba kernels run in Numba's CUDA simulator and CUDA C kernels in a CPU shim under "
            "AddressSanitizer and ThreadSanitizer, so every check grades the same as on a GPU; "
            "the coalescing timings come from figures recorded on a GPU, where there are some.")
WARP = 32            # threads that issue one memory instruction together
SECTOR = 32          # bytes: the unit in which a GPU's memory system moves data
FLOAT = 4            # bytes per float32

# The two layouts `record()` times. Both are correct when launched with their own grid; only
# the order in which a warp's threads walk memory differs.
ADD_COLS_C = r'''
extern "C" __global__ void add_cols(const float* A, const float* B, float* out, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;   // x walks along a row: coalesced
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) out[row * cols + col] = A[row * cols + col] + B[row * cols + col];
}
'''
ADD_ROWS_C = r'''
extern "C" __global__ void add_rows(const float* A, const float* B, float* out, int rows, int cols) {
    int row = blockIdx.x * blockDim.x + threadIdx.x;   // x walks down a column: strided
    int col = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) out[row * cols + col] = A[row * cols + col] + B[row * cols + col];
}
'''


# ---------------------------------------------------------------- the arithmetic
def launch_2d(rows: int, cols: int, block=(32, 8)):
    """(grid, block) for one thread per element of a rows x cols matrix, x along the columns."""
    bx, by = kernels.dim3(block)[:2]
    return (math.ceil(cols / bx), math.ceil(rows / by)), (bx, by)


def warp_cells(block, layout: str = "cols", warp: int = 0) -> list[tuple[int, int]]:
    """(row, col) of the elements the threads of one warp of block (0, 0) touch.

    CUDA numbers a block's threads x first (t = threadIdx.x + threadIdx.y * blockDim.x) and cuts
    them into warps of 32 consecutive t. layout "cols": col = threadIdx.x, row = threadIdx.y;
    layout "rows": the swap, row = threadIdx.x, col = threadIdx.y.
    """
    bx, by = kernels.dim3(block)[:2]
    ts = range(warp * WARP, min((warp + 1) * WARP, bx * by))
    cells = [(t // bx, t % bx) for t in ts]                  # (threadIdx.y, threadIdx.x)
    if layout == "cols":
        return [(ty, tx) for ty, tx in cells]
    if layout == "rows":
        return [(tx, ty) for ty, tx in cells]
    raise ValueError(f"layout is 'cols' or 'rows', got {layout!r}")


def warp_sectors(block, cols: int, layout: str = "cols") -> int:
    """32-byte sectors one warp's float32 load touches in a row-major matrix of `cols` columns."""
    return len({(r * cols + c) * FLOAT // SECTOR for r, c in warp_cells(block, layout)})


# ---------------------------------------------------------------- the picture
def warp_picture(block=(32, 8), rows: int = 34, cols: int = 40):
    """Figure: the elements warp 0 of block (0, 0) reads, x along columns (left) or rows (right).

    Each coloured cell is one thread's element; cells of one colour share a 32-byte sector,
    which the memory system moves as a whole.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    palette = plt.get_cmap("tab10").colors
    for ax, layout in zip(axes, ("cols", "rows")):
        rgb = np.full((rows, cols, 3), 0.93)
        for r, c in warp_cells(block, layout):
            rgb[r, c] = palette[((r * cols + c) * FLOAT // SECTOR) % len(palette)]
        ax.imshow(rgb, interpolation="nearest")
        ax.set_xticks(np.arange(-0.5, cols, 8), [])
        ax.set_yticks(np.arange(-0.5, rows, 8), [])
        ax.grid(color="white", lw=0.6)
        ax.set_xlabel(f"column (0..{cols - 1}); a row is {cols * FLOAT} contiguous bytes", fontsize=8)
        ax.set_ylabel("row", fontsize=8)
        n = warp_sectors(block, cols, layout)
        walk = "columns" if layout == "cols" else "rows"
        ax.set_title(f"x along {walk}: 32 floats in {n} sectors\n"
                     f"({n * SECTOR} bytes moved for {WARP * FLOAT} used)", fontsize=9)
    fig.suptitle(f"One warp of a ({block[0]}, {block[1]}) block in a {rows} x {cols} "
                 "float32 matrix (row-major)", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- the checks
# The visible launches: wide and tall blocks, no side a multiple of its block's, a tall matrix
# narrower than a wide block (rows and columns swapped show), one past 65,536 elements.
VISIBLE_PLAN = (((3, 3), (16, 8)), ((12, 12), (8, 16)), ((2, 5), (16, 8)), ((5, 2), (8, 16)),
                ((13, 20), (16, 8)), ((9, 21), (8, 16)), ((20, 9), (16, 4)), ((261, 253), (16, 8)))
NUMBA_LIMIT, C_LIMIT = 24, 40      # the largest side drawn: the simulator is slow


def plan_matrix(hidden: bool = False, seed: int | None = None, c_code: bool = False):
    """((rows, cols), block) launches of the matrix checks: fixed, or drawn (`kernels.plan_2d`)."""
    if not hidden:
        return list(VISIBLE_PLAN)
    return kernels.plan_2d(np.random.default_rng(seed), C_LIMIT if c_code else NUMBA_LIMIT)


def check_matrix_add(kernel, name=None, hidden=False, verbose=True, seed=None):
    """out = A + B on square and non-square matrices with 2-D blocks, x along columns.

    Numba kernel(A, B, out); CUDA C kernel(const float* A, const float* B, float* out, int rows,
    int cols), row-major. grid = (ceil(cols / block.x), ceil(rows / block.y)).
    """
    kernels.need_name(kernel, name, "check_matrix_add")
    plan = plan_matrix(hidden, seed, kernels.is_cuda_c(kernel))
    return kernels.check_matrix_add(kernel, name=name, plan=plan, seed=seed, verbose=verbose)


# The sigmoid kernel: out[r, c] = 1 / (1 + exp(-x[r, c])), through a device function.
DEVICE_FN = re.compile(r"__device__[^;{()]*\bsigmoid\s*\(")


def sigmoid_reference(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


def _sigmoid_hint(case, idx, got) -> str:
    x = case.launch.args[0]
    v = float(x[idx])
    g = float(got[idx])
    if math.isnan(g) and abs(v) > 80:
        return (f"got nan at x = {v:g}: exp({v:g}) overflows a float to inf, and inf / inf is nan. Write it "
                f"1 / (1 + exp(-x)), which tends to 0 or 1 there")
    if math.isclose(g, 1.0 / (1.0 + math.exp(min(v, 80.0))), rel_tol=1e-3, abs_tol=1e-6):
        return f"got sigmoid(-x) at x = {v:.4g}: the sign of the exponent, sigmoid(x) = 1 / (1 + exp(-x))"
    return kernels.matrix_hint(case, idx, got)


def _sigmoid_cases(kernel, plan, rng):
    c_code = kernels.is_cuda_c(kernel)
    names = ["x", "out"] + (["rows", "cols"] if c_code else [])
    cases = []
    for (rows, cols), block in plan:
        x = (rng.standard_normal((rows, cols)) * 4).astype(np.float32)
        kernels.with_extremes(x, rng, (30.0, -30.0) + tuple(kernels.EXTREMES))   # saturated and extreme values
        args = [x, np.full((rows, cols), np.nan, np.float32)]
        args += [np.int32(rows), np.int32(cols)] if c_code else []
        grid = kernels.grid_2d((rows, cols), block)
        tail = kernels.tail(grid) if rows * cols > kernels.WIDE_INDEX else None
        launch = kernels.Launch(grid, block, args, label=f"shape=({rows}, {cols})", blocks=tail)
        compared = {1: kernels.owned((rows, cols), grid, block, tail)} if tail else {}
        cases.append(kernels.Case(launch, {1: sigmoid_reference(x)}, names=names, square=rows == cols,
                                  compared=compared))
    return cases


def check_sigmoid(kernel, name=None, hidden=False, verbose=True, seed=None):
    """out = sigmoid(x) elementwise over 2-D float32 matrices, through a `__device__` function.

    Numba kernel(x, out); CUDA C kernel(const float* x, float* out, int rows, int cols),
    row-major, x along the columns. A CUDA C source must define `__device__ ... sigmoid(...)`.
    x holds ±30, ±88.8, ±100, ±inf, denormals and zeros too: sigmoid is defined at all of them.
    """
    kernels.need_name(kernel, name, "check_sigmoid")
    if kernels.is_cuda_c(kernel) and not DEVICE_FN.search(kernel):
        raise AssertionError("the source has no `__device__` function named sigmoid: write "
                             "`__device__ float sigmoid(float v)` and call it from the kernel")
    plan = plan_matrix(hidden, seed, kernels.is_cuda_c(kernel))
    rng = np.random.default_rng(seed)
    return kernels.check_kernel(kernel, lambda size: _sigmoid_cases(kernel, plan, rng),
                                check_name=f"2-D sigmoid ({kernels.kernel_name(kernel, name)})", name=name,
                                hint=_sigmoid_hint, rtol=1e-5, atol=1e-6, verbose=verbose,
                                advice=kernels.one_writer_advice, single_writer=True)


# ---------------------------------------------------------------- the exercise's checks
# The exercise asks the page's ideas of other cases: a transpose (the write is the strided one),
# a 3-D launch over a batch of matrices, a bias broadcast over it in CUDA C, and a device
# function that needs its own rewriting to stay finite (softplus). Each check's expectation is
# NumPy's (`A.T`, `x + bias`, `logaddexp`), never a kernel of the course's.
def _transpose_hint(case, idx, got) -> str:
    A = case.launch.args[0]
    c, r = (int(i) for i in idx)                         # out[c, r] should be A[r, c]
    if math.isnan(float(got[idx])):
        return (f"out[{c}, {r}] was never written: a thread for every element of A, guarded by A's "
                f"shape ({A.shape[0]} rows, {A.shape[1]} columns); out's shape is the other way round")
    if np.array_equal(got, A.reshape(got.shape)):
        return "out holds A's numbers in A's order, reshaped: write out[col, row] = A[row, col]"
    return ""


def _transpose_cases(kernel, plan, rng):
    c_code = kernels.is_cuda_c(kernel)
    names = ["A", "out"] + (["rows", "cols"] if c_code else [])
    cases = []
    for (rows, cols), block in plan:
        A = rng.standard_normal((rows, cols)).astype(np.float32)
        args = [A, np.full((cols, rows), np.nan, np.float32)]
        args += [np.int32(rows), np.int32(cols)] if c_code else []
        grid = kernels.grid_2d((rows, cols), block)                 # over A: x along its columns
        tail = kernels.tail(grid) if rows * cols > kernels.WIDE_INDEX else None
        launch = kernels.Launch(grid, block, args, label=f"A of shape ({rows}, {cols})", blocks=tail)
        compared = {1: kernels.owned((rows, cols), grid, block, tail).T} if tail else {}
        cases.append(kernels.Case(launch, {1: A.T.copy()}, names=names, square=rows == cols,
                                  compared=compared))
    return cases


def check_transpose(kernel, name=None, hidden=False, verbose=True, seed=None):
    """out = A.T: A is rows x cols, out cols x rows, one thread per element of A, x along A's
    columns: grid = (ceil(cols / block.x), ceil(rows / block.y)).

    Numba kernel(A, out); CUDA C kernel(const float* A, float* out, int rows, int cols)."""
    kernels.need_name(kernel, name, "check_transpose")
    plan = plan_matrix(hidden, seed, kernels.is_cuda_c(kernel))
    rng = np.random.default_rng(seed)
    return kernels.check_kernel(kernel, lambda size: _transpose_cases(kernel, plan, rng),
                                check_name=f"transpose ({kernels.kernel_name(kernel, name)})", name=name,
                                hint=_transpose_hint, verbose=verbose, advice=kernels.one_writer_advice,
                                single_writer=True)


def _triple(value, what):
    try:
        return kernels.dim3(value)
    except (TypeError, ValueError):
        raise AssertionError(f"{what} should be a tuple (x, y, z), got {value!r}") from None


def check_launch_batched(fn, hidden=False):
    """fn(batch, rows, cols) -> (grid, block), 3-D: legal on a GPU, x along the columns, y along
    the rows, z along the batch, covering, no layer, row or column of blocks only idle."""
    shapes = [(1, 1000, 3000), (64, 128, 768), (100_000, 16, 16), (3, 1, 1), (7, 33, 65)]
    if hidden:
        r = random.Random()
        # telling cases first, each drawn afresh: a wide and a tall matrix (a swapped grid shows
        # there before a square one trips another check), and sides that are multiples of every
        # power-of-two block (c // block + 1 then launches a layer of idle blocks)
        shapes = [(r.randint(1, 300), r.randint(1, 40), r.randint(500, 2000)),
                  (r.randint(1, 300), r.randint(500, 2000), r.randint(1, 40)),
                  (64 * r.randint(1, 4), 1024 * r.randint(1, 2), 1024 * r.randint(1, 2))]
        shapes += [(r.randint(1, 300), r.randint(1, 2000), r.randint(1, 2000)) for _ in range(8)]
        shapes += [(r.randint(70_000, 250_000), r.randint(1, 20), r.randint(1, 64)),
                   (r.randint(1, 4), r.randint(1, 40), r.randint(10_000, 100_000))]
    notes = set()
    for batch, rows, cols in shapes:
        got = fn(batch, rows, cols)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise AssertionError(f"launch_batched({batch}, {rows}, {cols}) should return (grid, block), got {got!r}")
        for part, value in zip(("grid", "block"), got):
            if not (isinstance(value, (tuple, list)) and len(value) == 3):
                raise AssertionError(f"the {part} of launch_batched({batch}, {rows}, {cols}) should be a "
                                     f"tuple (x, y, z), got {value!r}: the batch needs the z extent")
        grid, block = _triple(got[0], "grid"), _triple(got[1], "block")
        label = f"launch_batched({batch}, {rows}, {cols}) = (grid={grid}, block={block})"
        kernels.validate_launch(grid, block, label=label)
        xs, ys = grid[0] * block[0], grid[1] * block[1]          # threads along x and along y
        if (xs < cols or ys < rows) and xs >= rows and ys >= cols:
            raise AssertionError(f"{label}: x covers {xs} and y {ys} threads for {rows} rows x {cols} "
                                 "columns: the grid is sized the other way round. x walks along the "
                                 "columns: grid.x = ceil(cols / block.x)")
        for axis, n, what in ((0, cols, "columns"), (1, rows, "rows"), (2, batch, "matrices of the batch")):
            threads = grid[axis] * block[axis]
            if threads < n:
                raise AssertionError(f"{label}: {threads} threads along {'xyz'[axis]} for {n} {what}: "
                                     f"grid.{'xyz'[axis]} = ceil({n} / block.{'xyz'[axis]}) covers them")
            if (grid[axis] - 1) * block[axis] >= n:
                raise AssertionError(f"{label}: the last {'xyz'[axis]}-layer of blocks has only idle "
                                     "threads; use the fewest blocks that cover (ceiling division)")
        if block[0] % WARP and block[0] < cols:
            notes.add(f"block.x = {block[0]} is not a multiple of {WARP}: a warp then spans "
                      f"several rows and reads shorter runs of memory")
    print(f"launch_batched: {len(shapes)} batches covered exactly" + "".join(f". Note: {t}" for t in notes))


# The bias add over a batch: out[b, r, c] = x[b, r, c] + bias[c], one thread per element.
BATCH_BLOCKS = ((16, 4, 2), (8, 8, 4), (32, 2, 4), (4, 16, 2), (8, 4, 8))
VISIBLE_BATCHES = (((2, 3, 3), (16, 4, 2)), ((3, 5, 7), (8, 8, 4)), ((5, 9, 4), (4, 16, 2)),
                   ((9, 2, 40), (32, 2, 4)), ((1, 30, 30), (8, 4, 8)), ((3, 160, 150), (16, 4, 2)))


def plan_batched(hidden=False, seed=None):
    """((batch, rows, cols), block) launches: no side a multiple of its block's, rows != cols,
    batch not a multiple of block.z, and one batch past 65,536 elements (its last blocks run)."""
    if not hidden:
        return list(VISIBLE_BATCHES)
    rng = np.random.default_rng(seed)
    plan = []
    for i, block in enumerate(rng.permutation(len(BATCH_BLOCKS))[:4]):
        bx, by, bz = BATCH_BLOCKS[block]
        rows = kernels.off_multiple(rng, 2, 24, by)
        cols = kernels.off_multiple(rng, 2, 24, bx)
        while cols == rows:
            cols = kernels.off_multiple(rng, 2, 24, bx)
        plan.append(((kernels.off_multiple(rng, bz + 1, 3 * bz, bz), rows, cols), BATCH_BLOCKS[block]))
    bx, by, bz = BATCH_BLOCKS[int(rng.integers(len(BATCH_BLOCKS)))]
    rows, cols = kernels.off_multiple(rng, 100, 200, by), kernels.off_multiple(rng, 100, 200, bx)
    plan.append(((kernels.off_multiple(rng, kernels.WIDE_INDEX // (rows * cols) + 2, 12, bz), rows, cols),
                 (bx, by, bz)))
    return plan


def _bias_hint(case, idx, got) -> str:
    x, bias = case.launch.args[0], case.launch.args[1]
    b, r, c = (int(i) for i in idx)
    g = float(got[idx])
    if math.isnan(g):
        return (f"out[{b}, {r}, {c}] was never written: every thread's (matrix, row, column) comes from "
                "z, y and x, each guarded against batch, rows and cols")
    if r < bias.size and math.isclose(g, float(x[idx] + bias[r]), rel_tol=1e-5, abs_tol=1e-6):
        return f"got x + bias[row] at out[{b}, {r}, {c}]: the bias belongs to the column, bias[col]"
    return ""


def _bias_cases(plan, rng):
    cases = []
    for (batch, rows, cols), block in plan:
        x = rng.standard_normal((batch, rows, cols)).astype(np.float32)
        bias = rng.standard_normal(cols).astype(np.float32)
        args = [x, bias, np.full((batch, rows, cols), np.nan, np.float32),
                np.int32(batch), np.int32(rows), np.int32(cols)]
        bx, by, bz = block
        grid = (math.ceil(cols / bx), math.ceil(rows / by), math.ceil(batch / bz))
        tail = kernels.tail(grid) if x.size > kernels.WIDE_INDEX else None
        launch = kernels.Launch(grid, block, args, label=f"x of shape ({batch}, {rows}, {cols})", blocks=tail)
        compared = {2: kernels.owned(x.shape, grid, block, tail)} if tail else {}
        cases.append(kernels.Case(launch, {2: x + bias}, names=["x", "bias", "out", "batch", "rows", "cols"],
                                  compared=compared))
    return cases


def check_bias_add(kernel, name=None, hidden=False, verbose=True, seed=None):
    """out[b, r, c] = x[b, r, c] + bias[c] on a (batch, rows, cols) float32 array, row-major, in
    CUDA C: kernel(const float* x, const float* bias, float* out, int batch, int rows, int cols),
    grid = (ceil(cols / block.x), ceil(rows / block.y), ceil(batch / block.z))."""
    kernels.need_name(kernel, name, "check_bias_add")
    if not kernels.is_cuda_c(kernel):
        raise AssertionError("check_bias_add takes CUDA C source text (a Python string), as cupy.RawKernel does")
    plan = plan_batched(hidden, seed)
    rng = np.random.default_rng(seed)
    return kernels.check_kernel(kernel, lambda size: _bias_cases(plan, rng),
                                check_name=f"batched bias add ({kernels.kernel_name(kernel, name)})", name=name,
                                hint=_bias_hint, verbose=verbose, advice=kernels.one_writer_advice,
                                single_writer=True)


# softplus(v) = log(1 + e^v), which log1pf(expf(v)) overflows to inf past v = 88.7.
SOFTPLUS_FN = re.compile(r"__device__[^;{()]*\bsoftplus\s*\(")


def softplus_reference(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x.astype(np.float64)).astype(np.float32)


def _softplus_hint(case, idx, got) -> str:
    v, g = float(case.launch.args[0][idx]), float(got[idx])
    if math.isinf(g) and not math.isinf(v):
        return (f"got {g} at x = {v:g}: exp({v:g}) overflows a float. Softplus is about v there: "
                "write it max(v, 0) + log1p(exp(-|v|)), whose exponential never overflows")
    if math.isnan(g) and not math.isnan(v):
        return f"got nan at x = {v:g}: an inf - inf or 0 * inf in the formula; max(v, 0) + log1p(exp(-|v|)) has none"
    if math.isclose(g, float(np.logaddexp(0.0, -v)), rel_tol=1e-4, abs_tol=1e-6):
        return f"got softplus(-x) at x = {v:.4g}: the sign of the exponent, softplus(x) = log(1 + exp(x))"
    return kernels.matrix_hint(case, idx, got)


def _softplus_cases(plan, rng):
    cases = []
    for (rows, cols), block in plan:
        x = (rng.standard_normal((rows, cols)) * 4).astype(np.float32)
        kernels.with_extremes(x, rng, (30.0, -30.0, 89.5, -89.5) + tuple(kernels.EXTREMES))
        args = [x, np.full((rows, cols), np.nan, np.float32), np.int32(rows), np.int32(cols)]
        grid = kernels.grid_2d((rows, cols), block)
        tail = kernels.tail(grid) if rows * cols > kernels.WIDE_INDEX else None
        launch = kernels.Launch(grid, block, args, label=f"shape=({rows}, {cols})", blocks=tail)
        compared = {1: kernels.owned((rows, cols), grid, block, tail)} if tail else {}
        cases.append(kernels.Case(launch, {1: softplus_reference(x)}, names=["x", "out", "rows", "cols"],
                                  square=rows == cols, compared=compared))
    return cases


def check_softplus(kernel, name=None, hidden=False, verbose=True, seed=None):
    """out = softplus(x) = log(1 + e^x) elementwise over 2-D float32 matrices, in CUDA C through a
    `__device__` function: kernel(const float* x, float* out, int rows, int cols), x along the
    columns. x holds ±30, ±89.5, ±100, ±inf, denormals and zeros too."""
    kernels.need_name(kernel, name, "check_softplus")
    if not kernels.is_cuda_c(kernel):
        raise AssertionError("check_softplus takes CUDA C source text (a Python string), as cupy.RawKernel does")
    if not SOFTPLUS_FN.search(kernel):
        raise AssertionError("the source has no `__device__` function named softplus: write "
                             "`__device__ float softplus(float v)` and call it from the kernel")
    plan = plan_matrix(hidden, seed, True)
    rng = np.random.default_rng(seed)
    return kernels.check_kernel(kernel, lambda size: _softplus_cases(plan, rng),
                                check_name=f"2-D softplus ({kernels.kernel_name(kernel, name)})", name=name,
                                hint=_softplus_hint, rtol=1e-5, atol=1e-6, verbose=verbose,
                                advice=kernels.one_writer_advice, single_writer=True)


# ---------------------------------------------------------------- the GPU figures
def record(shapes=((2048, 2048), (4096, 4096), (1024, 16384), (8192, 8192)), block=(32, 8),
           dry: bool = False) -> dict:
    """Median kernel times of the two layouts of a matrix add (CuPy RawKernel, CUDA events).
    dry: the same walk through the CPU stand-in (`kernels.bench`), one small shape."""
    b = kernels.bench(dry)
    shapes, repeats = (((40, 72),), 2) if dry else (shapes, 20)
    layouts = {"x_along_cols": b.raw_kernel(ADD_COLS_C, "add_cols"),
               "x_along_rows": b.raw_kernel(ADD_ROWS_C, "add_rows")}
    bx, by = block
    out = {"block": list(block), "shapes": [list(s) for s in shapes], "x_along_cols": [], "x_along_rows": []}
    for rows, cols in shapes:
        A, B = b.randn((rows, cols)), b.randn((rows, cols))
        want = A + B
        for key, kern in layouts.items():
            # each layout gets the grid that matches it: both compute the right sum
            grid = (math.ceil(cols / bx), math.ceil(rows / by)) if key == "x_along_cols" \
                else (math.ceil(rows / bx), math.ceil(cols / by))
            res = b.xp.full((rows, cols), np.nan, np.float32)
            args = (A, B, res, np.int32(rows), np.int32(cols))
            kern(grid, block, args)
            assert bool(b.xp.allclose(res, want)), f"{key} added wrongly"     # check before you time
            us = 1000 * b.median_ms(lambda: kern(grid, block, args), repeats=repeats, warmup=3 - 2 * dry)
            # 3 arrays of rows * cols float32: two read, one written
            out[key].append({"us": us, "gb_s": 3 * rows * cols * FLOAT / (us * 1e-6) / 1e9})
    return {"coalescing": out}


def timing_table(recorded: dict | None) -> str:
    """The page's coalescing table (Markdown) from recorded figures, or why there is none."""
    if recorded is None or "coalescing" not in recorded.get("figures", {}):
        return ("**No GPU figures recorded yet.** Running `python3 dev.py gpu-figures` on a GPU machine "
                "times both layouts (see `record()` in `autograder/ch04_2d_grids.py`), and the next "
                "build shows them here.")
    from . import results
    d = recorded["figures"]["coalescing"]
    rows = ["| matrix | x along columns | x along rows | slowdown |", "|" + " ---: |" * 4]
    for (r, c), good, bad in zip(d["shapes"], d["x_along_cols"], d["x_along_rows"]):
        rows.append(f"| {r} x {c} | {good['us']:.0f} µs ({good['gb_s']:.0f} GB/s) | "
                    f"{bad['us']:.0f} µs ({bad['gb_s']:.0f} GB/s) | {bad['us'] / good['us']:.1f}x |")
    block = tuple(d["block"])
    return f"Medians of 20 launches, block {block}, on {results.label(recorded)}:\n\n" + "\n".join(rows)

"""The course's standard kernel checks: vector add, matrix add, matmul (with a read budget).

A test cell is one line::

    check_vector_add(vector_add, threads_per_block=256)          # a Numba CUDA kernel
    check_vector_add(VECTOR_ADD_SRC, name="vector_add")          # CUDA C, as cupy.RawKernel takes it

Each check builds its cases from a plan, a list of (size or shape, block) pairs: sizes that are
not a multiple of the block, non-square matrices, blocks that are wider than tall and taller
than wide, inputs holding ±100, ±inf and denormals, and (by default) one case past 65,536
elements of which only the last blocks run on the CPU (`cases`). Each element has one owner,
so two threads writing one element fail (`single_writer`), with advice from `hints`.
Chapters pass their own plans (`vector_cases`, `matrix_cases`, `matmul_cases`).
"""
from __future__ import annotations

import math
from itertools import cycle
from typing import Any, Sequence

import numpy as np

from .cases import BLOCKS_2D, WIDE_INDEX, grid_1d, grid_2d, large_size, owned, tail, with_extremes
from .checks import Case, CheckReport, check_kernel, kernel_name
from .hints import matrix_hint, one_writer_advice, vector_hint
from .launch import AccessCount, Launch, dim3, validate_launch
from .run import is_cuda_c

# Sizes and shapes; a large case past 65,536 elements is added where a check draws its own.
VECTOR_SIZES = {"small": (1, 2, 3, 30, 255, 256, 257, 1000), "large": (1, 2, 3, 30, 255, 256, 257, 1000, 4097)}
MATRIX_SHAPES = {
    "small": ((1, 1), (2, 2), (3, 3), (2, 3), (3, 2), (1, 30), (30, 1), (17, 30), (30, 17), (32, 32)),
    "large": ((1, 1), (2, 2), (3, 3), (2, 3), (3, 2), (1, 30), (30, 1), (17, 30), (30, 17), (32, 32),
              (100, 37), (37, 100), (64, 64)),
}
MATMUL_SHAPES = {  # (M, K, N): A is M x K, B is K x N
    "small": ((1, 1, 1), (2, 3, 2), (3, 2, 3), (1, 30, 1), (30, 17, 3), (17, 20, 18)),
    "large": ((1, 1, 1), (2, 3, 2), (3, 2, 3), (1, 30, 1), (30, 17, 3), (17, 20, 18), (16, 16, 16),
              (33, 40, 18), (64, 100, 30), (100, 31, 70)),
}


def _rng(seed):
    return np.random.default_rng(seed)


def _resolve(names: Sequence[str], values: dict[str, Any]) -> list[Any]:
    try:
        return [values[n] for n in names]
    except KeyError as e:
        raise ValueError(f"unknown argument name {e}; known: {sorted(values)}") from None


def _inputs(shape, rng, extremes: bool) -> np.ndarray:
    x = rng.standard_normal(shape).astype(np.float32)
    return with_extremes(x, rng) if extremes else x


def _tail_launch(grid, block, args, label, size: int) -> Launch:
    """A launch whose output has `size` elements: past 65,536 only its last two blocks run on the CPU."""
    return Launch(grid, block, args, label=label, blocks=tail(grid, 2) if size > WIDE_INDEX else None)


def vector_cases(plan: Sequence[tuple[int, int]], args: Sequence[str], rng, fn=lambda a, b: a + b,
                 extremes: bool = True) -> list[Case]:
    """out = fn(a, b) cases, one per (n, threads per block); out starts as NaN."""
    cases = []
    for n, tpb in plan:
        a, b = _inputs(n, rng, extremes), _inputs(n, rng, extremes)
        values = {"a": a, "b": b, "out": np.full(n, np.nan, np.float32), "n": np.int32(n)}
        launch = _tail_launch(grid_1d(n, tpb), tpb, _resolve(args, values), f"n={n}", n)
        out = list(args).index("out")
        with np.errstate(invalid="ignore", over="ignore"):
            want = fn(a, b).astype(np.float32)
        cases.append(Case(launch, {out: want}, names=list(args),
                          compared={out: owned((n,), launch.grid, tpb, launch.blocks)} if launch.blocks else {}))
    return cases


def check_vector_add(kernel, threads_per_block: int = 256, *, name: str | None = None,
                     args: Sequence[str] | None = None, sizes: Sequence[int] | None = None,
                     backend: str = "auto", seed: int | None = None, timeout: float = 60.0,
                     verbose: bool = True, plan: Sequence[tuple[int, int]] | None = None) -> CheckReport:
    """out = a + b over float32 vectors of many sizes, one thread per element.

    Arguments: Numba kernel(a, b, out); CUDA C kernel(const float* a, const float* b, float* out,
    int n). Pass `args` (names from a, b, out, n) to change the order; `plan` as (n, threads
    per block) pairs to fix the launches (then `sizes` and `threads_per_block` are not used).
    """
    if args is None:
        args = ("a", "b", "out", "n") if is_cuda_c(kernel) else ("a", "b", "out")
    rng = _rng(seed)

    def cases(size):
        if plan is not None:
            return vector_cases(plan, args, rng)
        chosen = [(n, threads_per_block) for n in (sizes or VECTOR_SIZES[size])]
        if sizes is None:
            chosen.append((large_size(rng, threads_per_block), threads_per_block))
        return vector_cases(chosen, args, rng)

    return check_kernel(kernel, cases, check_name=f"vector add ({kernel_name(kernel, name)})",
                        name=name, backend=backend, hint=vector_hint, timeout=timeout, verbose=verbose,
                        advice=one_writer_advice, single_writer=True)


def matrix_cases(plan, args: Sequence[str], rng, fn=lambda A, B: A + B, extremes: bool = True,
                 names=("A", "B", "out")) -> list[Case]:
    """out = fn(A, B) cases, one per ((rows, cols), block); grid = (ceil(cols / bx), ceil(rows / by))."""
    cases = []
    a_name, b_name, out_name = names
    for (rows, cols), block in plan:
        A, B = _inputs((rows, cols), rng, extremes), _inputs((rows, cols), rng, extremes)
        values = {a_name: A, b_name: B, out_name: np.full((rows, cols), np.nan, np.float32),
                  "rows": np.int32(rows), "cols": np.int32(cols)}
        bx, by = dim3(block)[:2]
        launch = _tail_launch(grid_2d((rows, cols), block), (bx, by), _resolve(args, values),
                              f"shape=({rows}, {cols})", rows * cols)
        out = list(args).index(out_name)
        with np.errstate(invalid="ignore", over="ignore"):
            want = fn(A, B).astype(np.float32)
        compared = {out: owned((rows, cols), launch.grid, (bx, by), launch.blocks)} if launch.blocks else {}
        cases.append(Case(launch, {out: want}, names=list(args), square=rows == cols, compared=compared))
    return cases


def _plan_2d(shapes, block):
    """((shape, block) pairs): `block` for every shape, or the standard blocks in turn."""
    blocks = [dim3(block)[:2]] if block is not None else list(BLOCKS_2D)
    return [(s, b) for s, b in zip(shapes, cycle(blocks))]


def check_matrix_add(kernel, block: tuple[int, int] | None = None, *, name: str | None = None,
                     args: Sequence[str] | None = None, shapes=None, backend: str = "auto",
                     seed: int | None = None, timeout: float = 60.0, verbose: bool = True,
                     plan=None) -> CheckReport:
    """out = A + B for rows x cols float32 matrices, x walking along columns, y along rows.

    grid = (ceil(cols / block.x), ceil(rows / block.y)); without `block`, the shapes take the
    standard wide and tall blocks in turn. Arguments: Numba kernel(A, B, out); CUDA C
    kernel(const float* A, const float* B, float* out, int rows, int cols), row-major.
    `plan`: ((rows, cols), block) pairs, fixing the launches.
    """
    if args is None:
        args = ("A", "B", "out", "rows", "cols") if is_cuda_c(kernel) else ("A", "B", "out")
    rng = _rng(seed)

    def cases(size):
        if plan is not None:
            return matrix_cases(plan, args, rng)
        return matrix_cases(_plan_2d(shapes or MATRIX_SHAPES[size], block), args, rng)

    return check_kernel(kernel, cases, check_name=f"matrix add ({kernel_name(kernel, name)})",
                        name=name, backend=backend, hint=matrix_hint, timeout=timeout, verbose=verbose,
                        advice=one_writer_advice, single_writer=True)


def matmul_cases(shapes, block, args, rng, *, b_layout: str = "kn", cols_per_thread: int = 1) -> list[Case]:
    """C = A @ B cases; grid = (ceil(N / (block.x * cols_per_thread)), ceil(M / block.y)); C
    starts as NaN. `block` is one block for every shape, or a list with one per shape;
    `b_layout` "nk" stores B as N x K (a Linear layer's weight), so C = A @ B.T; past 65,536
    outputs only the last two blocks run on the CPU."""
    blocks = [block] * len(shapes) if isinstance(block, (int, np.integer)) or \
        (len(block) in (2, 3) and all(isinstance(x, (int, np.integer)) for x in block)) else list(block)
    cases = []
    for (m, k, n), blk in zip(shapes, blocks):
        bx, by = dim3(blk)[:2]
        A = rng.standard_normal((m, k)).astype(np.float32)
        B = rng.standard_normal((n, k) if b_layout == "nk" else (k, n)).astype(np.float32)
        values = {"A": A, "B": B, "C": np.full((m, n), np.nan, np.float32),
                  "M": np.int32(m), "K": np.int32(k), "N": np.int32(n)}
        label = f"A {m}x{k} @ B.T ({n}x{k})" if b_layout == "nk" else f"A {m}x{k} @ B {k}x{n}"
        launch = _tail_launch((math.ceil(n / (bx * cols_per_thread)), math.ceil(m / by)), (bx, by),
                              _resolve(args, values), label, m * n)
        B64 = B.astype(np.float64)
        want = (A.astype(np.float64) @ (B64.T if b_layout == "nk" else B64)).astype(np.float32)
        out = list(args).index("C")
        compared = {out: owned((m, n), launch.grid, (bx * cols_per_thread, by), launch.blocks)} \
            if launch.blocks else {}
        cases.append(Case(launch, {out: want}, names=list(args), square=(m == n == k), compared=compared))
    return cases


def check_matmul(kernel, block=(16, 16), *, name: str | None = None,
                 args: Sequence[str] | None = None, shapes=None,
                 max_reads_per_output: float | None = None, budget_shape=(16, 48, 16),
                 backend: str = "auto", seed: int | None = None, timeout: float = 60.0,
                 verbose: bool = True, b_layout: str = "kn") -> CheckReport:
    """C = A @ B, A is M x K, B is K x N, one thread per element of C (x along columns of C).

    Arguments: Numba kernel(A, B, C); CUDA C kernel(const float* A, const float* B, float* C,
    int M, int K, int N), row-major. `block`: one block, or one per shape. `max_reads_per_output`:
    a budget of global-memory element reads (of A and B together) per element of C, counted on
    the CPU (the simulator, or the CUDA C shim's counter) on `budget_shape` (M, K, N) with
    16 x 16 blocks. A naive kernel reads 2*K per output; one with T x T shared tiles about 2*K/T.
    `b_layout` "nk": B is stored N x K and C = A @ B.T (see `matmul_cases`).
    """
    if args is None:
        args = ("A", "B", "C", "M", "K", "N") if is_cuda_c(kernel) else ("A", "B", "C")
    rng = _rng(seed)
    budget = budget_cases = None
    if max_reads_per_output is not None:
        m, k, n = budget_shape
        limit = float(max_reads_per_output)
        names = list(args)
        tile = 16

        def budget_cases():
            return matmul_cases([budget_shape], (tile, tile), args, rng, b_layout=b_layout)

        def budget(acc: AccessCount) -> str:
            reads = acc.reads.get(names[names.index("A")], 0) + acc.reads.get(names[names.index("B")], 0)
            per_out = reads / (m * n)
            steps = math.ceil(k / tile)
            # naive: each of the m*n threads reads a row of A and a column of B, 2*k elements
            text = (f"reads {per_out:.1f} global elements of A and B per output element "
                    f"({f'A {m}x{k} @ B.T, B {n}x{k}' if b_layout == 'nk' else f'A {m}x{k} @ B {k}x{n}'}: {reads} reads for {m * n} outputs), budget {limit:g}; "
                    f"{acc.barriers} barriers per thread for {steps} tiles of {tile}")
            if per_out > limit:
                return (f"over: {text}. A naive kernel reads 2*K = {2 * k}: load tiles of A and B into "
                        f"shared memory once per block and reuse them")
            return text

    plan_shapes = shapes

    def cases(size):
        return matmul_cases(plan_shapes or MATMUL_SHAPES[size], block, args, rng, b_layout=b_layout)

    return check_kernel(kernel, cases, check_name=f"matmul ({kernel_name(kernel, name)})", name=name, backend=backend,
                        hint=matrix_hint, budget=budget, budget_cases=budget_cases, rtol=1e-3, atol=1e-3,
                        timeout=timeout, verbose=verbose, advice=one_writer_advice, single_writer=True)


def check_launch(grid, block) -> None:
    """Raise LaunchConfigError if a GPU would refuse this launch (e.g. more than 1024 threads per block)."""
    validate_launch(grid, block)

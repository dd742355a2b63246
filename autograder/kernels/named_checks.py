"""The course's standard kernel checks: vector add, matrix add, matmul (with a read budget).

A test cell is one line::

    check_vector_add(vector_add, threads_per_block=256)          # a Numba CUDA kernel
    check_vector_add(VECTOR_ADD_SRC, name="vector_add")          # CUDA C, as cupy.RawKernel takes it

Each check draws its shapes (1, 2, 3, 30, 1000, sizes that are not a multiple of the block,
non-square matrices; smaller ones for the simulator, which is slow), builds the cases with
NumPy's answers, and hands them to `check_kernel`. Chapters fix their own shapes and blocks.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .checks import Case, CheckReport, check_kernel, kernel_name, matrix_hint, vector_hint
from .launch import AccessCount, Launch, dim3, validate_launch
from .run import is_cuda_c

# Shapes: "small" runs in the Numba simulator, "large" on a GPU and in the CUDA C shim.
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


def _shapes(given, table, size):
    return table[size] if given is None else given


def check_vector_add(kernel, threads_per_block: int = 256, *, name: str | None = None,
                     args: Sequence[str] | None = None, sizes: Sequence[int] | None = None,
                     backend: str = "auto", seed: int | None = None, timeout: float = 60.0,
                     verbose: bool = True) -> CheckReport:
    """out = a + b over float32 vectors of many sizes, one thread per element.

    Arguments: Numba kernel(a, b, out); CUDA C kernel(const float* a, const float* b, float* out,
    int n). Pass `args` (names from a, b, out, n) to change the order.
    """
    if args is None:
        args = ("a", "b", "out", "n") if is_cuda_c(kernel) else ("a", "b", "out")
    rng = _rng(seed)

    def cases(size):
        out = []
        for n in _shapes(sizes, VECTOR_SIZES, size):
            a = rng.standard_normal(n).astype(np.float32)
            b = rng.standard_normal(n).astype(np.float32)
            values = {"a": a, "b": b, "out": np.full(n, np.nan, np.float32), "n": np.int32(n)}
            launch = Launch(math.ceil(n / threads_per_block), threads_per_block, _resolve(args, values),
                            label=f"n={n}")
            out.append(Case(launch, {list(args).index("out"): a + b}, names=list(args)))
        return out

    return check_kernel(kernel, cases, check_name=f"vector add ({kernel_name(kernel, name)})",
                        name=name, backend=backend, hint=vector_hint, timeout=timeout, verbose=verbose)


def check_matrix_add(kernel, block: tuple[int, int] = (16, 16), *, name: str | None = None,
                     args: Sequence[str] | None = None, shapes=None, backend: str = "auto",
                     seed: int | None = None, timeout: float = 60.0, verbose: bool = True) -> CheckReport:
    """out = A + B for rows x cols float32 matrices, x walking along columns, y along rows.

    grid = (ceil(cols / block.x), ceil(rows / block.y)). Arguments: Numba kernel(A, B, out);
    CUDA C kernel(const float* A, const float* B, float* out, int rows, int cols), row-major.
    """
    if args is None:
        args = ("A", "B", "out", "rows", "cols") if is_cuda_c(kernel) else ("A", "B", "out")
    rng = _rng(seed)
    bx, by = dim3(block)[:2]

    def cases(size):
        out = []
        for rows, cols in _shapes(shapes, MATRIX_SHAPES, size):
            A = rng.standard_normal((rows, cols)).astype(np.float32)
            B = rng.standard_normal((rows, cols)).astype(np.float32)
            values = {"A": A, "B": B, "out": np.full((rows, cols), np.nan, np.float32),
                      "rows": np.int32(rows), "cols": np.int32(cols)}
            launch = Launch((math.ceil(cols / bx), math.ceil(rows / by)), (bx, by), _resolve(args, values),
                            label=f"shape=({rows}, {cols})")
            out.append(Case(launch, {list(args).index("out"): A + B}, names=list(args), square=rows == cols))
        return out

    return check_kernel(kernel, cases, check_name=f"matrix add ({kernel_name(kernel, name)})",
                        name=name, backend=backend, hint=matrix_hint, timeout=timeout, verbose=verbose)


def matmul_cases(shapes, block, args, rng) -> list[Case]:
    """C = A @ B cases; grid = (ceil(N / block.x), ceil(M / block.y)); C starts as NaN."""
    bx, by = dim3(block)[:2]
    cases = []
    for m, k, n in shapes:
        A = rng.standard_normal((m, k)).astype(np.float32)
        B = rng.standard_normal((k, n)).astype(np.float32)
        values = {"A": A, "B": B, "C": np.full((m, n), np.nan, np.float32),
                  "M": np.int32(m), "K": np.int32(k), "N": np.int32(n)}
        launch = Launch((math.ceil(n / bx), math.ceil(m / by)), (bx, by), _resolve(args, values),
                        label=f"A {m}x{k} @ B {k}x{n}")
        want = (A.astype(np.float64) @ B.astype(np.float64)).astype(np.float32)
        cases.append(Case(launch, {list(args).index("C"): want}, names=list(args), square=(m == n == k)))
    return cases


def check_matmul(kernel, block: tuple[int, int] = (16, 16), *, name: str | None = None,
                 args: Sequence[str] | None = None, shapes=None,
                 max_reads_per_output: float | None = None, budget_shape=(16, 48, 16),
                 backend: str = "auto", seed: int | None = None, timeout: float = 60.0,
                 verbose: bool = True) -> CheckReport:
    """C = A @ B, A is M x K, B is K x N, one thread per element of C (x along columns of C).

    Arguments: Numba kernel(A, B, C); CUDA C kernel(const float* A, const float* B, float* C,
    int M, int K, int N), row-major. `max_reads_per_output`: a budget of global-memory element
    reads (of A and B together) per element of C, counted in the simulator on `budget_shape`
    (M, K, N). A naive kernel reads 2*K per output; one with T x T shared tiles about 2*K/T.
    """
    if args is None:
        args = ("A", "B", "C", "M", "K", "N") if is_cuda_c(kernel) else ("A", "B", "C")
    rng = _rng(seed)
    budget = budget_cases = None
    if max_reads_per_output is not None:
        if is_cuda_c(kernel):
            raise ValueError("read budgets are counted in the Numba simulator; pass a Numba kernel")
        m, k, n = budget_shape
        limit = float(max_reads_per_output)
        names = list(args)

        def budget_cases():
            return matmul_cases([budget_shape], block, args, rng)

        def budget(acc: AccessCount) -> str:
            reads = acc.reads.get(names[names.index("A")], 0) + acc.reads.get(names[names.index("B")], 0)
            per_out = reads / (m * n)
            # naive: each of the m*n threads reads a row of A and a column of B, 2*k elements
            text = (f"reads {per_out:.1f} global elements of A and B per output element "
                    f"(A {m}x{k} @ B {k}x{n}: {reads} reads for {m * n} outputs), budget {limit:g}")
            if per_out > limit:
                return (f"over: {text}. A naive kernel reads 2*K = {2 * k}: load tiles of A and B into "
                        f"shared memory once per block and reuse them")
            return text

    return check_kernel(kernel, lambda size: matmul_cases(_shapes(shapes, MATMUL_SHAPES, size), block, args, rng),
                        check_name=f"matmul ({kernel_name(kernel, name)})", name=name, backend=backend,
                        hint=matrix_hint, budget=budget, budget_cases=budget_cases, rtol=1e-3, atol=1e-3,
                        timeout=timeout, verbose=verbose)


def check_launch(grid, block) -> None:
    """Raise LaunchConfigError if a GPU would refuse this launch (e.g. more than 1024 threads per block)."""
    validate_launch(grid, block)

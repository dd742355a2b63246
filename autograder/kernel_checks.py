"""Graded checks for the kernels of Part II, the same on a GPU and on a CPU-only machine.

A test cell is one line::

    check_vector_add(vector_add, threads_per_block=256)          # a Numba CUDA kernel
    check_vector_add(VECTOR_ADD_SRC, name="vector_add")          # CUDA C, as cupy.RawKernel takes it

Every check runs the kernel over many shapes (1, 2, 3, 30, 1000, sizes that are not a multiple
of the block, non-square matrices), compares with NumPy, and either prints one line saying
what passed and on which backend, or raises an AssertionError (a `KernelError`) whose message
names the backend, the shape, and the first wrong index with expected and actual values, or
the out-of-bounds access, the race, the compile error, the time limit, the read budget.

Backends (chosen once, by `autograder.device.detect()`):
  * GPU: Numba CUDA, or CuPy's RawKernel, for real; array arguments get a guard zone after
    their end, so that a write past the end is seen.
  * CPU, Numba: Numba's CUDA simulator in a subprocess (out-of-bounds indices, including
    negative ones, raise; global reads and writes are counted per thread), plus a compile to
    PTX for compute capability 7.5 (catches typing errors the simulator accepts).
  * CPU, CUDA C: NVRTC with CuPy's flags, then a C++20 shim under AddressSanitizer (values,
    out-of-bounds) and ThreadSanitizer (races). The shim runs on a GPU machine too, so a race
    fails everywhere.

Layers: `Launch`, `validate_launch` and the errors (pure); `run_kernel` (dispatch to
`numba_runner` / `cuda_c`); `check_kernel` and the named checks (compare, budget, report).

Known limitations: the simulator is slow (about 0.5 ms per CUDA thread), so CPU shapes stay
small; read budgets are counted in the simulator only (on a GPU too); races in Numba kernels
are found on shared arrays and on global reads of another thread's write (see numba_runner);
the CUDA C shim models no warps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

MAX_THREADS_PER_BLOCK = 1024
MAX_BLOCK_DIM = (1024, 1024, 64)
MAX_GRID_DIM = (2**31 - 1, 65535, 65535)
STATIC_SHARED_LIMIT = 48 * 1024


# ---------------------------------------------------------------- errors (all AssertionError)

class KernelError(AssertionError):
    """A kernel failed a check; the message is written for the student."""

    reason = "error"

    def __init__(self, message: str, *, backend: str = "", launch: str = ""):
        self.backend = backend
        self.launch = launch
        self.detail = message
        prefix = f"[{backend}] " if backend else ""
        where = f"{launch}: " if launch else ""
        super().__init__(prefix + where + message)


class KernelCompileError(KernelError):
    reason = "compile"


class LaunchConfigError(KernelError):
    reason = "launch"


class KernelTimeout(KernelError):
    reason = "timeout"


class OutOfBoundsError(KernelError):
    reason = "out-of-bounds"


class RaceError(KernelError):
    reason = "race"


class KernelCrash(KernelError):
    reason = "crash"


class WrongResult(KernelError):
    reason = "wrong"


class OverBudget(KernelError):
    reason = "budget"


# ---------------------------------------------------------------- launches

def communicate(proc, timeout: float) -> tuple[str, str, bool]:
    """(stdout, stderr, timed_out) of a runner subprocess, killing its whole group past `timeout`
    (an endless kernel must not outlive its check)."""
    import os
    import signal
    import subprocess
    try:
        out, err = proc.communicate(timeout=max(0.1, timeout))
        return out, err, False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        out, err = proc.communicate()
        return out, err, True


def dim3(v) -> tuple[int, int, int]:
    """(x, y, z) from an int or a 1-3 tuple, as CUDA's dim3 fills missing sizes with 1."""
    if isinstance(v, (int, np.integer)):
        return (int(v), 1, 1)
    t = tuple(int(x) for x in v)
    if not 1 <= len(t) <= 3:
        raise ValueError(f"a grid or block has 1 to 3 dimensions, got {v!r}")
    return t + (1,) * (3 - len(t))


def validate_launch(grid, block, backend: str = "", label: str = "") -> None:
    """Raise LaunchConfigError for a launch a GPU would refuse (the simulator accepts them)."""
    g, b = dim3(grid), dim3(block)
    threads = b[0] * b[1] * b[2]
    if min(b) < 1 or min(g) < 1:
        raise LaunchConfigError(
            f"grid {g} and block {b} must be at least 1 in every dimension", backend=backend, launch=label)
    if threads > MAX_THREADS_PER_BLOCK:
        raise LaunchConfigError(
            f"a block may hold at most {MAX_THREADS_PER_BLOCK} threads, this launch asks for "
            f"{threads} threads per block (block={b}); a GPU refuses it with "
            f"'invalid configuration argument'. Use more blocks of at most 1024 threads.",
            backend=backend, launch=label)
    for axis, (n, limit) in enumerate(zip(b, MAX_BLOCK_DIM)):
        if n > limit:
            raise LaunchConfigError(f"block dimension {'xyz'[axis]} = {n} exceeds the limit {limit}",
                                    backend=backend, launch=label)
    for axis, (n, limit) in enumerate(zip(g, MAX_GRID_DIM)):
        if n > limit:
            raise LaunchConfigError(f"grid dimension {'xyz'[axis]} = {n} exceeds the limit {limit}",
                                    backend=backend, launch=label)


@dataclass
class Launch:
    """One kernel launch: kernel[grid, block](*args), with `shared_mem` bytes of dynamic shared memory.

    Array arguments are NumPy arrays (copied in, copied back); scalars are NumPy scalars
    (np.int32(n), np.float32(x)) so that CUDA C receives exactly the declared type.
    """
    grid: Any
    block: Any
    args: Sequence[Any]
    shared_mem: int = 0
    label: str = ""

    @property
    def grid3(self) -> tuple[int, int, int]:
        return dim3(self.grid)

    @property
    def block3(self) -> tuple[int, int, int]:
        return dim3(self.block)

    def describe(self) -> str:
        def short(t):
            t = list(t)
            while len(t) > 1 and t[-1] == 1:
                t.pop()
            return str(t[0]) if len(t) == 1 else "(" + ", ".join(map(str, t)) + ")"
        text = f"grid={short(self.grid3)}, block={short(self.block3)}"
        return f"{self.label} ({text})" if self.label else text


@dataclass
class AccessCount:
    """Global-memory element reads and writes of one launch, counted in the simulator."""
    reads: dict[str, int] = field(default_factory=dict)          # argument name -> element reads
    writes: dict[str, int] = field(default_factory=dict)
    max_reads_per_thread: int = 0
    max_writes_per_thread: int = 0
    threads: int = 0                                              # threads that touched global memory

    @property
    def total_reads(self) -> int:
        return sum(self.reads.values())

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())


@dataclass
class KernelRun:
    """What a runner returns: the arrays after each launch, and how they were obtained."""
    backend: str
    outputs: list[list[Any]]                   # per launch, per argument: array after the kernel (None for scalars)
    notes: list[str] = field(default_factory=list)
    accesses: list[AccessCount | None] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def is_cuda_c(kernel) -> bool:
    return isinstance(kernel, str) and "__global__" in kernel


def run_kernel(kernel, launches: Sequence[Launch], *, name: str | None = None, backend: str = "auto",
               options: Sequence[str] = (), count_accesses: bool = False, timeout: float = 60.0,
               sanitizers: Sequence[str] = ("address", "thread")) -> KernelRun:
    """Run a Numba CUDA kernel (function, dispatcher or source text) or CUDA C source text.

    backend: "auto" (GPU if `detect().cuda`, else the CPU path), "gpu", or "cpu"
    ("simulator" and "shim" are accepted as names of the CPU path).
    """
    if is_cuda_c(kernel):
        from . import cuda_c
        if name is None:
            raise ValueError("CUDA C needs the kernel's name, as cupy.RawKernel(code, name) does")
        return cuda_c.run_cuda_c(kernel, name, launches, options=options, backend=backend,
                                 timeout=timeout, sanitizers=sanitizers)
    from . import numba_runner
    return numba_runner.run_numba(kernel, launches, name=name, backend=backend,
                                  count_accesses=count_accesses, timeout=timeout)


# ---------------------------------------------------------------- comparing with NumPy

def first_mismatch(expected: np.ndarray, got: np.ndarray, rtol: float, atol: float):
    """(index tuple, number wrong) of the first element (row-major) that differs, or None."""
    expected = np.asarray(expected)
    got = np.asarray(got).reshape(expected.shape)
    if np.issubdtype(expected.dtype, np.floating):
        bad = ~np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    else:
        bad = got != expected
    if not bad.any():
        return None
    flat = int(np.flatnonzero(bad.ravel())[0])
    return np.unravel_index(flat, expected.shape), int(bad.sum())


def _fmt_index(name: str, idx) -> str:
    return f"{name}[{', '.join(str(int(i)) for i in idx)}]"


def _fmt_value(v) -> str:
    v = np.asarray(v).item()
    if isinstance(v, float):
        if math.isnan(v):
            return "nan (never written)"
        return f"{v:.6g}"
    return str(v)


@dataclass
class Case:
    """One shape of a check: the launch, and the expected content of some arguments after it."""
    launch: Launch
    expected: dict[int, np.ndarray]            # argument index -> expected array after the kernel
    names: Sequence[str] = ()                  # argument names, for messages
    square: bool | None = None                 # for 2-D checks: is this shape square?
    after_square_pass: bool = False            # set by check_kernel: a square case before it passed


@dataclass
class CheckReport:
    name: str
    backend: str
    cases: int
    notes: list[str] = field(default_factory=list)

    def _ipython_display_(self):
        pass  # the check already printed its line; a notebook shows nothing more

    def __str__(self) -> str:
        extra = "; ".join(self.notes)
        return (f"{self.name}: passed on {self.cases} launch configurations, backend: {self.backend}"
                + (f". {extra}" if extra else ""))


def compare_case(case: Case, outputs: list[Any], backend: str, *, rtol=1e-4, atol=1e-5,
                 hint: Callable[[Case, tuple, Any], str] | None = None) -> None:
    """Raise WrongResult naming the first wrong index, expected and actual values."""
    for i, want in case.expected.items():
        got = outputs[i]
        name = case.names[i] if i < len(case.names) else f"argument {i}"
        found = first_mismatch(want, got, rtol, atol)
        if found is None:
            continue
        idx, nbad = found
        got_arr = np.asarray(got).reshape(np.asarray(want).shape)
        msg = (f"wrong result: first wrong element {_fmt_index(name, idx)}: expected "
               f"{_fmt_value(want[idx])}, got {_fmt_value(got_arr[idx])} "
               f"({nbad} of {np.asarray(want).size} elements wrong)")
        if hint is not None:
            extra = hint(case, idx, got_arr)
            if extra:
                msg += ". " + extra
        raise WrongResult(msg, backend=backend, launch=case.launch.describe())


def _vector_hint(case: Case, idx, got) -> str:
    first = int(np.ravel_multi_index(idx, got.shape))
    tpb = case.launch.block3[0]
    if first == tpb and case.launch.grid3[0] > 1:
        return (f"The first {tpb} elements (one block) are right: does every block work on its own "
                f"part? The global index is blockIdx.x * blockDim.x + threadIdx.x")
    if first > 0:
        return f"Elements 0..{first - 1} are right"
    return ""


def _matrix_hint(case: Case, idx, got) -> str:
    if case.square is False and case.after_square_pass:
        return ("The square shapes before it are right and this one is not square: are rows and columns "
                "swapped? x (threadIdx.x, blockIdx.x) should walk along the columns, y along the rows")
    return ""


def _on_gpu(backend: str) -> bool:
    if backend == "gpu":
        return True
    if backend in ("cpu", "simulator", "shim"):
        return False
    from .device import detect
    return detect().cuda


def check_kernel(kernel, cases: Callable[[str], Sequence[Case]], *, check_name: str, name: str | None = None,
                 backend: str = "auto", options: Sequence[str] = (), timeout: float = 60.0,
                 hint=None, rtol=1e-4, atol=1e-5, budget: Callable[[AccessCount], str] | None = None,
                 budget_cases: Callable[[], Sequence[Case]] | None = None, verbose: bool = True) -> CheckReport:
    """Run the cases, compare with NumPy, enforce an optional read budget, print one line.

    `cases(size)` gives the cases for "small" (the Numba simulator: about 0.5 ms per thread) or
    "large" (GPU, CUDA C shim). On a GPU a Numba kernel runs the large cases on the GPU and the
    small ones in the simulator too (out-of-bounds reads, races and budgets are seen only
    there). `budget(accesses)` gets the simulator's counts for `budget_cases()` and returns a
    message: "over: ..." fails the check, anything else is shown in the report.
    """
    gpu = _on_gpu(backend)
    c_code = is_cuda_c(kernel)
    notes: list[str] = []
    backends: list[str] = []

    def run_and_compare(case_list, where, count=False):
        for c in case_list:
            validate_launch(c.launch.grid, c.launch.block, label=c.launch.describe())
        run = run_kernel(kernel, [c.launch for c in case_list], name=name, backend=where, options=options,
                         timeout=timeout, count_accesses=count)
        square_passed = False
        for c, out in zip(case_list, run.outputs):
            c.after_square_pass = square_passed
            compare_case(c, out, run.backend, rtol=rtol, atol=atol, hint=hint)
            square_passed = square_passed or bool(c.square)
        backends.append(run.backend)
        notes.extend(n for n in run.notes if n not in notes)
        return run

    total = 0
    if c_code:
        main = list(cases("large"))
        run_and_compare(main, "gpu" if gpu else "cpu")
        total += len(main)
    else:
        # The simulator first, on a GPU machine too, so that a kernel fails for the same reason
        # everywhere (out of bounds, race, budget) before a GPU shows only its wrong values.
        small = list(cases("small"))
        extra = list(budget_cases()) if (budget is not None and budget_cases is not None) else []
        run = run_and_compare(small + extra, "cpu", count=bool(extra))
        total += len(small)
        if extra:
            verdict = budget(run.accesses[len(small)])
            if verdict.startswith("over:"):
                raise OverBudget(verdict[len("over:"):].strip(), backend=run.backend,
                                 launch=extra[0].launch.describe())
            notes.append(verdict)
        if gpu:
            main = list(cases("large"))
            run_and_compare(main, "gpu")
            total += len(main)
    report = CheckReport(check_name, " + ".join(dict.fromkeys(backends)), total, notes)
    if verbose:
        print(report)
    return report


# ---------------------------------------------------------------- the named checks

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
    validate_launch(1, threads_per_block)
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

    return check_kernel(kernel, cases, check_name=f"vector add ({_kernel_name(kernel, name)})",
                        name=name, backend=backend, hint=_vector_hint, timeout=timeout, verbose=verbose)


def check_matrix_add(kernel, block: tuple[int, int] = (16, 16), *, name: str | None = None,
                     args: Sequence[str] | None = None, shapes=None, backend: str = "auto",
                     seed: int | None = None, timeout: float = 60.0, verbose: bool = True) -> CheckReport:
    """out = A + B for rows x cols float32 matrices, x walking along columns, y along rows.

    grid = (ceil(cols / block.x), ceil(rows / block.y)). Arguments: Numba kernel(A, B, out);
    CUDA C kernel(const float* A, const float* B, float* out, int rows, int cols), row-major.
    """
    validate_launch(1, block)
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

    return check_kernel(kernel, cases, check_name=f"matrix add ({_kernel_name(kernel, name)})",
                        name=name, backend=backend, hint=_matrix_hint, timeout=timeout, verbose=verbose)


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
    validate_launch(1, block)
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
                        check_name=f"matmul ({_kernel_name(kernel, name)})", name=name, backend=backend,
                        hint=_matrix_hint, budget=budget, budget_cases=budget_cases, rtol=1e-3, atol=1e-3,
                        timeout=timeout, verbose=verbose)


def check_launch(grid, block) -> None:
    """Raise LaunchConfigError if a GPU would refuse this launch (e.g. more than 1024 threads per block)."""
    validate_launch(grid, block)


def _kernel_name(kernel, name):
    if name:
        return name
    if isinstance(kernel, str):
        return "kernel"
    f = getattr(kernel, "py_func", kernel)
    return getattr(f, "__name__", "kernel")

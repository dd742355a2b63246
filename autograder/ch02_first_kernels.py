"""Chapter 2, first kernels: vector addition in Numba CUDA and CUDA C, launch configurations,
and the GPU figures the page quotes (what an unsynchronised timer measures).

The checks are thin wrappers over `kernels`' standard checks: they fix the chapter's launches, draw
fresh ones when `hidden=True` (`plan_*`: two block sizes, sizes around a block, one past 65,536
elements, extreme values, so that every known bug fails on every draw), and add the hints a
first kernel needs. `launch_config` is
pure arithmetic and is graded exactly. Nothing here grades a timing.

Known limitations: on a CPU the Numba kernels run in the simulator (about 0.5 ms per CUDA
thread), so the checks keep vectors to a few thousand elements, and of the one past 65,536
only the last two blocks run there; a scalar parameter whose type does not match what is
passed (a `double alpha` fed np.float32) is refused before the kernel runs.
"""
from __future__ import annotations

import random
import statistics
import time

import numpy as np

from . import kernels

SLUG = "ch02_first_kernels"
FALLBACK = ("Numba kernels run in Numba's CUDA simulator and CUDA C kernels in a CPU shim under "
            "AddressSanitizer, so every check grades the same as on a GPU; GPU timings come "
            "from figures recorded on a GPU, where there are some.")
MAX_THREADS = kernels.MAX_THREADS_PER_BLOCK

# The reference kernels `record()` times on a GPU (the page and the exercise write their own).
VECTOR_ADD_C = r'''
extern "C" __global__ void vector_add(const float* a, const float* b, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = a[i] + b[i];
    }
}
'''


VECTOR_ADD_NUMBA = '''
@cuda.jit
def vector_add(a, b, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] + b[i]
'''


# ---------------------------------------------------------------- the arithmetic
def launch_config(n: int, threads_per_block: int = 256) -> tuple[int, int]:
    """(blocks, threads) covering n elements with the fewest blocks of `threads_per_block`."""
    if not 1 <= threads_per_block <= MAX_THREADS:
        raise ValueError(f"threads_per_block must be 1..{MAX_THREADS}, got {threads_per_block}")
    return (n + threads_per_block - 1) // threads_per_block, threads_per_block


# ---------------------------------------------------------------- the checks
# The visible launches: two block sizes, sizes around a block, and one past 65,536 elements.
VISIBLE_ADD = ((1, 128), (2, 128), (3, 128), (127, 128), (128, 128), (129, 128), (500, 128), (97, 96),
               (300, 96), (65_601, 128))
VISIBLE_SCALE = ((1, 64), (63, 64), (64, 64), (65, 64), (300, 64), (200, 96), (65_600, 64))


def plan_vector_add(hidden: bool = False, seed: int | None = None):
    """The (n, threads per block) launches of check_vector_add: fixed, or drawn (`kernels.plan_1d`)."""
    return list(VISIBLE_ADD) if not hidden else kernels.plan_1d(np.random.default_rng(seed))


def check_vector_add(kernel, name: str | None = None, hidden: bool = False, seed: int | None = None):
    """out = a + b, one thread per element: Numba kernel(a, b, out), or CUDA C source with `name`
    and parameters (const float* a, const float* b, float* out, int n)."""
    kernels.need_name(kernel, name, "check_vector_add", "vector_add")
    return kernels.check_vector_add(kernel, name=name, plan=plan_vector_add(hidden, seed), seed=seed)


def _scale_add_cases(kernel, plan, rng):
    c_code = kernels.is_cuda_c(kernel)
    names = ["alpha", "a", "b", "out"] + (["n"] if c_code else [])
    cases = []
    for n, tpb in plan:
        alpha = np.float32(rng.uniform(-3, 3))
        a = kernels.with_extremes(rng.standard_normal(n).astype(np.float32), rng)
        b = rng.standard_normal(n).astype(np.float32)
        args = [alpha, a, b, np.full(n, np.nan, np.float32)] + ([np.int32(n)] if c_code else [])
        grid = kernels.grid_1d(n, tpb)
        blocks = kernels.tail(grid) if n > kernels.WIDE_INDEX else None
        launch = kernels.Launch(grid, tpb, args, label=f"n={n}, alpha={alpha:.4g}", blocks=blocks)
        with np.errstate(invalid="ignore", over="ignore"):
            want = alpha * a + b
        compared = {3: kernels.owned((n,), grid, tpb, blocks)} if blocks else {}
        cases.append(kernels.Case(launch, {3: want}, names=names, compared=compared))
    return cases


def _scale_add_hint(case, idx, got) -> str:
    alpha, a, b = case.launch.args[:3]
    i = int(idx[0])
    with np.errstate(invalid="ignore", over="ignore"):
        if np.isfinite(a[i]) and np.isclose(got[i], a[i] + b[i], rtol=1e-4):
            return "out[i] looks like a[i] + b[i]: is alpha used?"
        if np.isfinite(a[i]) and np.isclose(got[i], alpha * b[i] + a[i], rtol=1e-4):
            return "out[i] looks like alpha * b[i] + a[i]: alpha scales a, not b"
    return kernels.vector_hint(case, idx, got)


def plan_scale_add(hidden: bool = False, seed: int | None = None):
    """The (n, threads per block) launches of check_scale_add."""
    return list(VISIBLE_SCALE) if not hidden else kernels.plan_1d(np.random.default_rng(seed), (32, 64, 128))


def check_scale_add(kernel, name: str | None = None, hidden: bool = False, seed: int | None = None):
    """out = alpha * a + b with a float32 scalar alpha: Numba kernel(alpha, a, b, out), or CUDA C
    with parameters (float alpha, const float* a, const float* b, float* out, int n)."""
    kernels.need_name(kernel, name, "check_scale_add", "scale_add")
    plan = plan_scale_add(hidden, seed)
    rng = np.random.default_rng(seed if hidden else 2)
    label = name or getattr(getattr(kernel, "py_func", kernel), "__name__", "kernel")
    return kernels.check_kernel(kernel, lambda size: _scale_add_cases(kernel, plan, rng),
                                check_name=f"scale and add ({label})", name=name, hint=_scale_add_hint,
                                advice=kernels.one_writer_advice, single_writer=True)


def _config_case(fn, n, tpb):
    what = f"launch_config({n}, {tpb})"
    try:
        got = fn(n, tpb)
    except Exception as e:
        raise AssertionError(f"{what} raised {type(e).__name__}: {e}") from None
    if not (isinstance(got, tuple) and len(got) == 2
            and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in got)):
        raise AssertionError(f"{what} should return a tuple of two ints (blocks, threads), got {got!r}")
    blocks, threads = (int(x) for x in got)
    want = launch_config(n, tpb)
    if threads != tpb:
        raise AssertionError(f"{what}: expected {tpb} threads per block, got {threads}")
    if blocks * threads < n:
        missed = (f"element {n - 1} gets" if blocks * threads == n - 1
                  else f"elements {blocks * threads}..{n - 1} get")
        raise AssertionError(f"{what}: expected {want}, got {got!r}: {blocks} x {threads} threads "
                             f"start only {blocks * threads}, so {missed} no thread "
                             f"(the tail is missed: round up)")
    if blocks != want[0]:
        raise AssertionError(f"{what}: expected {want}, got {got!r}: {want[0]} x {threads} threads "
                             f"already cover all {n}; launch the fewest blocks that do")


def _config_refused(fn, tpb):
    try:
        got = fn(1000, tpb)
    except ValueError:
        return
    except Exception as e:
        raise AssertionError(f"launch_config(1000, {tpb}) should raise ValueError, "
                             f"raised {type(e).__name__}: {e}") from None
    raise AssertionError(f"launch_config(1000, {tpb}) returned {got!r}: a block holds at most "
                         f"{MAX_THREADS} threads (and at least 1), so it should raise ValueError")


def check_launch_config(fn, hidden: bool = False):
    """Fewest blocks covering n, exactly; ValueError past 1024 threads per block (or below 1)."""
    sizes = [1, 2, 31, 32, 33, 255, 256, 257, 1000, 1023, 1024, 1025, 500_000, 10**8]
    cases = [(n, t) for n in sizes for t in (1, 32, 100, 128, 256, 1024)]
    refused = [1025, 2048, 0]
    if hidden:
        r = random.Random()
        cases = [(r.randint(1, 10**9), r.randint(1, MAX_THREADS)) for _ in range(200)]
        cases += [(max(1, k * t + d), t) for t in (r.randint(1, MAX_THREADS),) for k in (1, r.randint(2, 10**6))
                  for d in (-1, 0, 1)]
        refused = [r.randint(MAX_THREADS + 1, 10**6), -r.randint(1, 100)]
    for n, t in cases:
        _config_case(fn, n, t)
    for t in refused:
        _config_refused(fn, t)
    print(f"launch_config: {len(cases)} sizes covered exactly, {len(refused)} bad block sizes refused")


# ---------------------------------------------------------------- the GPU figures
def _median_us(samples):
    return statistics.median(samples) * 1e6


def time_launch(launch, sync, repeats=20, warmup=3, clock=time.perf_counter) -> dict:
    """Median microseconds from before a launch to (a) the launch's return, (b) the end of the work."""
    for _ in range(warmup):
        launch()
    sync()
    returned, finished = [], []
    for _ in range(repeats):
        start = clock()
        launch()
        returned.append(clock() - start)   # what a timer without sync() would report
        sync()
        finished.append(clock() - start)   # what the kernel really took
    return {"returned_us": _median_us(returned), "finished_us": _median_us(finished)}


def record(sizes=(2**16, 2**20, 2**24, 2**26), dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores: launch-return vs finished times, and the copies.
    dry: the same walk through the CPU stand-in (`kernels.bench`), one small size."""
    b = kernels.bench(dry)
    sizes, repeats, warmup = ((2**10,), 2, 1) if dry else (sizes, 20, 3)
    numba_add = b.numba_kernel(VECTOR_ADD_NUMBA, "vector_add")
    raw = b.raw_kernel(VECTOR_ADD_C, "vector_add")
    out = {"sizes": list(sizes), "threads_per_block": 256, "numba": [], "cupy_rawkernel": [],
           "copy_in_us": [], "copy_out_us": []}
    for n in sizes:
        a = np.random.default_rng(0).random(n, dtype=np.float32)
        ones = np.ones(n, np.float32)
        da, db, dout = b.xp.asarray(a), b.xp.asarray(ones), b.xp.zeros(n, np.float32)
        blocks, threads = launch_config(n, 256)
        # Numba launches on CuPy arrays through __cuda_array_interface__; same stream (default).
        out["numba"].append(time_launch(lambda: numba_add(blocks, threads, (da, db, dout)), b.sync,
                                        repeats, warmup))
        assert np.allclose(b.host(dout), a + ones), "numba vector_add added wrongly"   # check before you time
        dout.fill(0)
        out["cupy_rawkernel"].append(time_launch(
            lambda: raw(blocks, threads, (da, db, dout, np.int32(n))), b.sync, repeats, warmup))
        assert np.allclose(b.host(dout), a + ones), "RawKernel vector_add added wrongly"
        host = np.empty(n, np.float32)
        t_in = time_launch(lambda: (b.copy_in(da, a), b.copy_in(db, ones)), b.sync, repeats=5, warmup=1)
        t_out = time_launch(lambda: b.copy_out(host, dout), b.sync, repeats=5, warmup=1)
        out["copy_in_us"].append(t_in["finished_us"])
        out["copy_out_us"].append(t_out["finished_us"])
    return {"launch_timing": out}


def timing_table(recorded: dict | None) -> str:
    """The page's timing table (Markdown) from recorded figures, or why there is none."""
    if recorded is None:
        return ("**No GPU figures recorded yet.** Running `python3 dev.py gpu-figures` on a GPU "
                "machine times these launches (see `record()` in `autograder/ch02_first_kernels.py`), "
                "and the next build shows them here.")
    from . import results
    d = recorded["figures"]["launch_timing"]
    rows = ["| elements | Numba: launch returned | Numba: work finished | RawKernel: launch returned "
            "| RawKernel: work finished | copy a, b in | copy out back |", "|" + " ---: |" * 7]
    for i, n in enumerate(d["sizes"]):
        nb, rk = d["numba"][i], d["cupy_rawkernel"][i]
        rows.append(f"| {n:,} | {nb['returned_us']:.1f} µs | {nb['finished_us']:.1f} µs | "
                    f"{rk['returned_us']:.1f} µs | {rk['finished_us']:.1f} µs | "
                    f"{d['copy_in_us'][i]:.0f} µs | {d['copy_out_us'][i]:.0f} µs |")
    return f"Medians measured on {results.label(recorded)}:\n\n" + "\n".join(rows)

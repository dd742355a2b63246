"""Chapter 2, first kernels: the exercise's checks (an adjacent difference, a launch configuration
for threads that handle several elements, a shift with two scalar arguments), and the GPU
figures the page quotes (what an unsynchronised timer measures).

The page teaches a vector add; the exercise asks other kernels, so that copying the page does
not answer it, and nothing here holds an answer: expected arrays come from NumPy, and
`launch_config` is graded by the launch's arithmetic (its blocks cover n, one fewer would not).
The kernel checks fix the visible launches and draw fresh ones when `hidden=True` (`plan_*`: two
block sizes, sizes around a block, one past 65,536 elements, extreme values, both signs of the
shift, so that every known bug fails on every draw), and add the hints a first kernel needs.
Nothing here grades a timing.

Known limitations: on a CPU the Numba kernels run in the simulator (about 0.5 ms per CUDA
thread), so the checks keep vectors to a few thousand elements, and of the one past 65,536
only the last two blocks run there; a scalar parameter whose type does not match what is
passed (a `float k` fed np.int32) is refused before the kernel runs.
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

# The reference kernels `record()` times on a GPU (the page writes its own; the exercise asks others).
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


# ---------------------------------------------------------------- the checks
# The exercise asks other kernels than the page's vector add: an adjacent difference (n - 1
# outputs from n inputs, each reading its neighbour), a launch configuration for threads that
# handle several elements each, and a shift that takes an int and a float scalar. Their expected
# values come from NumPy and from the launch's arithmetic, not from an answer kept here.
# Visible launches, as (outputs, threads per block): sizes around a block, two block sizes, one
# past 65,536 elements; the shift's as (n, threads per block, k), both signs of k.
VISIBLE_DIFF = ((1, 128), (2, 128), (127, 128), (128, 128), (129, 128), (500, 128), (97, 96), (300, 96),
                (65_601, 128))
VISIBLE_SHIFT = ((1, 64, 1), (63, 64, 5), (64, 64, -3), (65, 64, 70), (300, 64, -17), (200, 96, 0),
                 (200, 96, -250), (65_600, 64, -40))


def plan_adjacent_diff(hidden: bool = False, seed: int | None = None):
    """The (outputs, threads per block) launches of check_adjacent_diff: fixed, or drawn (`kernels.plan_1d`)."""
    return list(VISIBLE_DIFF) if not hidden else kernels.plan_1d(np.random.default_rng(seed))


def _diff_cases(kernel, plan, rng):
    names = ["a", "out"] + (["n"] if kernels.is_cuda_c(kernel) else [])
    cases = []
    for m, tpb in plan:                       # m outputs from n = m + 1 inputs
        a = kernels.with_extremes(rng.standard_normal(m + 1).astype(np.float32), rng)
        args = [a, np.full(m, np.nan, np.float32)] + ([np.int32(m + 1)] if len(names) == 3 else [])
        grid = kernels.grid_1d(m, tpb)        # one thread per output
        blocks = kernels.tail(grid) if m > kernels.WIDE_INDEX else None
        launch = kernels.Launch(grid, tpb, args, label=f"n={m + 1}, {m} outputs", blocks=blocks)
        with np.errstate(invalid="ignore", over="ignore"):
            want = a[1:] - a[:-1]
        compared = {1: kernels.owned((m,), grid, tpb, blocks)} if blocks else {}
        cases.append(kernels.Case(launch, {1: want}, names=names, compared=compared))
    return cases


def _diff_hint(case, idx, got) -> str:
    a, i = case.launch.args[0], int(idx[0])
    with np.errstate(invalid="ignore", over="ignore"):
        if np.isfinite(a[i:i + 2]).all() and a[i] != a[i + 1] and np.isclose(got[i], a[i] - a[i + 1], rtol=1e-4):
            return "out[i] looks like a[i] - a[i + 1]: the difference is the next element minus this one"
    return kernels.vector_hint(case, idx, got)


def _diff_advice(case, err) -> str | None:
    if (err.info or {}).get("kind") == "oob":
        m = case.launch.args[1].size
        return (f"out has {m} elements, one fewer than a, and thread i reads a[i + 1]: guard with the number of "
                f"outputs (i < out.size in Numba, i < n - 1 in CUDA C), not with the length of a")
    return kernels.one_writer_advice(case, err)


def check_adjacent_diff(kernel, name: str | None = None, hidden: bool = False, seed: int | None = None,
                        verbose: bool = True):
    """out[i] = a[i + 1] - a[i] for the n - 1 outputs, one thread per output: Numba kernel(a, out),
    or CUDA C with `name` and parameters (const float* a, float* out, int n), n the length of a."""
    kernels.need_name(kernel, name, "check_adjacent_diff", "adjacent_diff")
    plan = plan_adjacent_diff(hidden, seed)
    rng = np.random.default_rng(seed if hidden else 1)
    return kernels.check_kernel(kernel, lambda size: _diff_cases(kernel, plan, rng),
                                check_name=f"adjacent difference ({kernels.kernel_name(kernel, name)})", name=name,
                                hint=_diff_hint, advice=_diff_advice, single_writer=True, verbose=verbose)


def plan_shift(hidden: bool = False, seed: int | None = None):
    """The (n, threads per block, k) launches of check_shift: k of both signs on every draw (a
    missing lower or upper guard on a[i - k] fails on one each), one |k| past n (all fill)."""
    if not hidden:
        return list(VISIBLE_SHIFT)
    rng = np.random.default_rng(seed)
    plan = kernels.plan_1d(rng, (32, 64, 128))
    out = []
    for c, (n, tpb) in enumerate(plan):
        k = int(rng.integers(1, n + 1)) if c != 3 else n + int(rng.integers(1, 50))
        out.append((n, tpb, k if c % 2 == 0 else -k))
    return out


def _shift_cases(kernel, plan, rng):
    c_code = kernels.is_cuda_c(kernel)
    names = ["k", "fill", "a", "out"] + (["n"] if c_code else [])
    cases = []
    for n, tpb, k in plan:
        fill = np.float32(rng.uniform(-3, 3))
        a = kernels.with_extremes(rng.standard_normal(n).astype(np.float32), rng)
        args = [np.int32(k), fill, a, np.full(n, np.nan, np.float32)] + ([np.int32(n)] if c_code else [])
        grid = kernels.grid_1d(n, tpb)
        blocks = kernels.tail(grid) if n > kernels.WIDE_INDEX else None
        launch = kernels.Launch(grid, tpb, args, label=f"n={n}, k={k}, fill={fill:.4g}", blocks=blocks)
        src = np.arange(n) - k
        inside = (src >= 0) & (src < n)
        want = np.where(inside, a[np.clip(src, 0, max(n - 1, 0))], fill).astype(np.float32)
        compared = {3: kernels.owned((n,), grid, tpb, blocks)} if blocks else {}
        cases.append(kernels.Case(launch, {3: want}, names=names, compared=compared))
    return cases


def _shift_hint(case, idx, got) -> str:
    k, fill, a = int(case.launch.args[0]), case.launch.args[1], case.launch.args[2]
    i, n = int(idx[0]), a.size
    j = i - k
    want = case.expected[3][i]

    def like(v):                 # out[i] holds v, where the right value is another
        return bool(not np.isnan(v) and not np.isclose(v, want) and np.isclose(got[i], v, rtol=1e-4))
    # the shift the other way, judged on the whole output: its first wrong element may be a fill
    src = np.arange(n) + k
    backwards = np.where((src >= 0) & (src < n), a[np.clip(src, 0, max(n - 1, 0))], fill)
    with np.errstate(invalid="ignore", over="ignore"):
        if (0 <= i + k < n and like(a[i + k])) or np.allclose(got, backwards, rtol=1e-4, equal_nan=False):
            return "out[i] looks like a[i + k]: a shift by k moves a[i] to out[i + k], so out[i] = a[i - k]"
        if not 0 <= j < n and np.isnan(got[i]):
            return f"i - k = {j} is outside a, and out[i] was never written: write fill there"
        if 0 <= j < n and like(fill):
            return f"out[i] is fill, but a[i - k] = a[{j}] exists: fill only where i - k is outside a"
    return kernels.vector_hint(case, idx, got)


def _shift_advice(case, err) -> str | None:
    if (err.info or {}).get("kind") == "oob":
        return ("thread i reads a[i - k], which exists only for 0 <= i - k < n: test both bounds before "
                "reading, and write fill where it falls outside")
    return kernels.one_writer_advice(case, err)


def check_shift(kernel, name: str | None = None, hidden: bool = False, seed: int | None = None,
                verbose: bool = True):
    """out[i] = a[i - k] where 0 <= i - k < n, else fill (an int32 k, a float32 fill): Numba
    kernel(k, fill, a, out), or CUDA C with parameters (int k, float fill, const float* a, float* out, int n)."""
    kernels.need_name(kernel, name, "check_shift", "shift")
    plan = plan_shift(hidden, seed)
    rng = np.random.default_rng(seed if hidden else 2)
    return kernels.check_kernel(kernel, lambda size: _shift_cases(kernel, plan, rng),
                                check_name=f"shift ({kernels.kernel_name(kernel, name)})", name=name,
                                hint=_shift_hint, advice=_shift_advice, single_writer=True, verbose=verbose)


def _config_case(fn, n, tpb, per):
    what = f"launch_config({n}, {tpb}, {per})"
    try:
        got = fn(n, tpb, per)
    except Exception as e:
        raise AssertionError(f"{what} raised {type(e).__name__}: {e}") from None
    if not (isinstance(got, tuple) and len(got) == 2
            and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in got)):
        raise AssertionError(f"{what} should return a tuple of two ints (blocks, threads), got {got!r}")
    blocks, threads = (int(x) for x in got)
    if threads != tpb:
        raise AssertionError(f"{what}: expected {tpb} threads per block, got {threads}")
    span = tpb * per                     # the elements one block covers
    if blocks * span < n:
        raise AssertionError(f"{what}: got {got!r}: {blocks} blocks x {tpb} threads x {per} elements cover only "
                             f"{blocks * span}, so elements {blocks * span}..{n - 1} get no thread "
                             f"(the tail is missed: round up)")
    if (blocks - 1) * span >= n:
        why = (f"each thread handles {per} elements, so a block covers {tpb} x {per} = {span}"
               if per > 1 else "launch the fewest blocks that do")
        raise AssertionError(f"{what}: got {got!r}, but {blocks - 1} blocks already cover all {n} elements: {why}")


def _config_refused(fn, tpb, per):
    what = f"launch_config(1000, {tpb}, {per})"
    try:
        got = fn(1000, tpb, per)
    except ValueError:
        return
    except Exception as e:
        raise AssertionError(f"{what} should raise ValueError, raised {type(e).__name__}: {e}") from None
    why = (f"a block holds at most {MAX_THREADS} threads (and at least 1)" if not 1 <= tpb <= MAX_THREADS
           else "a thread handles at least one element")
    raise AssertionError(f"{what} returned {got!r}: {why}, so it should raise ValueError")


def check_launch_config(fn, hidden: bool = False):
    """launch_config(n, threads_per_block, per_thread): the fewest blocks whose threads, each
    handling per_thread consecutive elements, cover n (graded by the launch's arithmetic: they
    cover n, and one block fewer would not); ValueError for a block outside 1..1024 threads or
    per_thread below 1; per_thread defaults to 1."""
    sizes = [1, 2, 31, 32, 33, 255, 256, 257, 1000, 1023, 1024, 1025, 500_000, 10**8]
    cases = [(n, t, p) for n in sizes for t in (1, 32, 100, 256, 1024) for p in (1, 2, 3, 8)]
    refused = [(1025, 1), (2048, 1), (0, 1), (256, 0)]
    if hidden:
        r = random.Random()
        cases = [(r.randint(1, 10**9), r.randint(1, MAX_THREADS), r.randint(1, 16)) for _ in range(200)]
        t, p = r.randint(1, MAX_THREADS), r.randint(2, 16)
        cases += [(max(1, k * t * p + d), t, p) for k in (1, r.randint(2, 10**5)) for d in (-1, 0, 1)]
        refused = [(r.randint(MAX_THREADS + 1, 10**6), 1), (-r.randint(1, 100), 1), (256, -r.randint(0, 5))]
    for n, t, p in cases:
        _config_case(fn, n, t, p)
    for t, p in refused:
        _config_refused(fn, t, p)
    try:
        default = fn(1000, 256)
    except TypeError as e:
        raise AssertionError(f"launch_config(1000, 256) raised TypeError ({e}): per_thread should default "
                             f"to 1") from None
    if default != fn(1000, 256, 1):
        raise AssertionError(f"launch_config(1000, 256) returned {default!r}, not what per_thread=1 gives")
    print(f"launch_config: {len(cases)} sizes covered exactly, {len(refused)} bad launches refused")


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
        blocks, threads = kernels.grid_1d(n, 256), 256
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

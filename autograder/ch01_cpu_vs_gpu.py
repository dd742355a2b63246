"""Chapter 1, CPU vs GPU design: the vector-add measurement, its model, and the checks.

Three layers, as the rest of the package: pure arithmetic over sizes and bytes
(`kernel_bytes` ... `crossover`), measurement (`measure`, which times real additions),
and display (`plot`). The checks at the end grade a student's versions of the pure
pieces; they never grade a timing, because machines are noisy.

The vector add c = a + b on n elements of `itemsize` bytes reads 2n and writes n
elements: 3 * n * itemsize bytes through device memory. With the copies, the same
3 * n * itemsize bytes also cross the host-device link (a and b in, c out).
"""
from __future__ import annotations

import math
import os
import random
import statistics
import time

import numpy as np

from . import device, results
from .answers import probe
from .kernels import gpu

SLUG = "ch01_cpu_vs_gpu"
FALLBACK = ("The checks run on a simulated GPU clock and grade the same on any machine; "
            "the timings at the end run on this CPU, beside the GPU figures recorded for "
            "the course, if any are.")
# 1e3 .. 1e8 elements in half decades: 1000, 3162, 10000, ... 100000000
SIZES = [int(round(10 ** (k / 2))) for k in range(6, 17)]
CPU_PATHS = ("numpy", "numba_parallel")
GPU_PATHS = ("gpu_kernel", "gpu_with_copies")
LABELS = {
    "numpy": "CPU, NumPy (one thread)",
    "numba_parallel": "CPU, Numba parallel=True",
    "gpu_kernel": "GPU, kernel only",
    "gpu_with_copies": "GPU, with host-device copies",
}


# ---------------------------------------------------------------- the arithmetic
def kernel_bytes(n: int, itemsize: int) -> int:
    """Bytes c = a + b moves through memory: read a and b, write c."""
    return 3 * n * itemsize


def copy_bytes(n: int, itemsize: int) -> int:
    """Bytes that cross the host-device link: a and b to the device, c back."""
    return 3 * n * itemsize


def model_seconds(n, itemsize, bandwidth, overhead=0.0, link_bandwidth=None):
    """Back-of-envelope time: a fixed overhead plus bytes over bandwidth (and over the link)."""
    t = overhead + kernel_bytes(n, itemsize) / bandwidth
    if link_bandwidth is not None:
        t += copy_bytes(n, itemsize) / link_bandwidth
    return t


def effective_bandwidth(n: int, itemsize: int, seconds: float) -> float:
    """Bytes per second the addition achieved, counting the kernel's bytes only."""
    return kernel_bytes(n, itemsize) / seconds


def time_call(fn, sync, repeats=5, warmup=1, clock=time.perf_counter) -> float:
    """Median seconds of fn(), each call timed from a synchronised start to a synchronised end."""
    for _ in range(warmup):        # compile, allocate, warm the caches: not timed
        fn()
    sync()                         # work queued before us must not land in our first sample
    samples = []
    for _ in range(repeats):
        start = clock()
        fn()
        sync()                     # a GPU launch returns at once; wait for the work itself
        samples.append(clock() - start)
    return statistics.median(samples)


def crossover(sizes, cpu_seconds, gpu_seconds):
    """Smallest size from which the GPU is faster at that size and every larger one, or None."""
    answer = None
    for n, c, g in reversed(list(zip(sizes, cpu_seconds, gpu_seconds))):
        if not g < c:
            break
        answer = n
    return answer


def fit_model(sizes, seconds, itemsize=4, points=3):
    """(overhead, bandwidth) of `time = overhead + bytes / bandwidth`, read off several points.

    The overhead is the fastest of the `points` smallest sizes, where the bytes take next to no
    time: a fixed cost cannot be more, and a call slowed by a busy machine (always slower,
    never faster) does not lift it. The bandwidth is the least-squares slope of the time above
    the overhead against the bytes over the `points` largest sizes: past the caches, where the
    bytes come from main memory (mid-sized arrays run faster than this model says).
    """
    t = np.asarray(seconds, dtype=float)
    b = np.array([kernel_bytes(n, itemsize) for n in sizes], dtype=float)
    overhead = float(t[:points].min())
    bb, tt = b[-points:], np.maximum(t[-points:] - overhead, 1e-12)
    return overhead, float((bb * bb).sum() / (bb * tt).sum())


# ---------------------------------------------------------------- the measurement
def _numba_add():
    import numba

    @numba.njit(parallel=True, fastmath=True)
    def add(a, b, out):
        for i in numba.prange(a.size):
            out[i] = a[i] + b[i]
    return add


def _repeats(n):
    return max(3, min(30, int(3e7 // n)))


def measure(sizes=SIZES, paths=None, dtype=np.float32, timer=time_call, progress=True, arrays=None):
    """Seconds per addition for each path and size: {"sizes": [...], path: [...], ...}.

    paths: any of CPU_PATHS and, with a GPU, GPU_PATHS (default: all this machine has).
    timer: a function like `time_call` (a student passes their own).
    arrays: the GPU's array operations (default `gpu()`; the dry run passes a stand-in).
    """
    arrays = arrays or gpu()
    if paths is None:
        paths = CPU_PATHS + (GPU_PATHS if arrays else ())
    if any(p in GPU_PATHS for p in paths) and arrays is None:
        raise RuntimeError("GPU paths asked for, but no GPU was found (device.detect()).")
    numba_add = _numba_add() if "numba_parallel" in paths else None
    out = {"sizes": list(sizes), "dtype": np.dtype(dtype).name, **{p: [] for p in paths}}
    steps = [(n, p) for n in sizes for p in paths]
    if progress:
        from .widgets import progress as bar
        steps = bar(steps, desc="vector add", unit="run")
    rng = np.random.default_rng(0)
    host = {}
    for n, path in steps:
        if host.get("n") != n:
            host = {"n": n, "a": rng.random(n, dtype=dtype), "b": rng.random(n, dtype=dtype),
                    "c": np.empty(n, dtype=dtype)}
            if arrays:
                host.update(da=arrays.empty(n, dtype), db=arrays.empty(n, dtype),
                            dc=arrays.empty(n, dtype))
                arrays.upload(host["da"], host["a"])
                arrays.upload(host["db"], host["b"])
        a, b, c = host["a"], host["b"], host["c"]
        if path == "numpy":
            fn, sync = (lambda: np.add(a, b, out=c)), (lambda: None)
        elif path == "numba_parallel":
            fn, sync = (lambda: numba_add(a, b, c)), (lambda: None)
        elif path == "gpu_kernel":
            fn, sync = (lambda: arrays.add(host["da"], host["db"], host["dc"])), arrays.sync
        else:
            def fn():
                arrays.upload(host["da"], a)
                arrays.upload(host["db"], b)
                arrays.add(host["da"], host["db"], host["dc"])
                arrays.download(c, host["dc"])
            sync = arrays.sync
        out[path].append(float(timer(fn, sync, repeats=_repeats(n), warmup=1)))
        if path == "gpu_kernel":                  # the kernel alone leaves its sum on the device
            c.fill(np.nan)
            arrays.download(c, host["dc"])
        if path in GPU_PATHS or path == "numba_parallel":
            assert np.allclose(c, a + b), f"{path} added wrongly at n={n}"  # check before you time
    return out


def summarise(data: dict) -> dict:
    """Crossovers and fitted models of one measurement (sizes, paths -> seconds)."""
    sizes, itemsize = data["sizes"], np.dtype(data.get("dtype", "float32")).itemsize
    cpu = [p for p in CPU_PATHS if p in data]
    best_cpu = [min(data[p][i] for p in cpu) for i in range(len(sizes))] if cpu else None
    summary = {"models": {p: fit_model(sizes, data[p], itemsize)
                          for p in CPU_PATHS + GPU_PATHS if p in data}}
    for p in GPU_PATHS:
        if p in data and best_cpu:
            summary[f"crossover_{p}"] = crossover(sizes, best_cpu, data[p])
    return summary


def matmul_flops(n=2048, on_gpu=False, timer=time_call, arrays=None):
    """Float32 FLOP/s of an n x n matrix product (2 n^3 operations), on the CPU or the GPU."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    if on_gpu:
        arrays = arrays or gpu()
        a, b = arrays.from_host(a), arrays.from_host(b)
        seconds = timer(lambda: arrays.matmul(a, b), arrays.sync, repeats=5, warmup=2)
    else:
        seconds = timer(lambda: a @ b, lambda: None, repeats=3, warmup=1)
    return 2 * n**3 / seconds


def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores for this chapter, all measured on the GPU's own host.
    dry: the same walk on the CPU (NumPy standing in for the GPU), small sizes, nothing real."""
    arrays = gpu(stand_in=dry)
    if arrays is None:
        raise RuntimeError("no GPU: chapter 1 records nothing on a CPU-only machine")
    sizes, big = (SIZES[:3], 256) if dry else (SIZES, 4096)
    data = measure(sizes, CPU_PATHS + GPU_PATHS, arrays=arrays, progress=False)
    threads = device.gpu_threads() or device.stand_in_threads()
    return {"vector_add": data, "summary": summarise(data), "threads": threads,
            "cpu_threads": os.cpu_count(),
            "matmul_flops": {"cpu": matmul_flops(big // 2), "gpu": matmul_flops(big, on_gpu=True, arrays=arrays)}}


def _size(n):
    return "never, up to the largest size measured" if n is None else f"{n:,} elements"


def findings(live: dict, recorded: dict | None) -> str:
    """The page's conclusions, as Markdown, written from whatever was measured."""
    models = summarise(live)["models"]
    text = [f"- **This build's machine** ({device.detect().name}, {os.cpu_count()} logical CPUs): "
            f"the model's bandwidth, read off the largest sizes, is {models['numpy'][1] / 1e9:.1f} "
            f"GB/s for NumPy and {models['numba_parallel'][1] / 1e9:.1f} GB/s for the parallel "
            "Numba loop (the table below)."]
    gpu_data, where = None, None
    if any(p in live for p in GPU_PATHS):
        gpu_data, where = live, f"{device.detect().name} (measured while building this page)"
    elif recorded is not None:
        gpu_data, where = recorded["figures"]["vector_add"], results.label(recorded)
    if gpu_data is None:
        text.append("- **No GPU figures are recorded yet**, and this build had no GPU, so the "
                    "GPU curves and the crossover are missing. Running `python3 dev.py "
                    "gpu-figures` on a GPU machine records them, and the next build plots them.")
        return "\n".join(text)
    s = summarise(gpu_data)
    n_big = gpu_data["sizes"][-1]
    kernel, copies = gpu_data["gpu_kernel"][-1], gpu_data["gpu_with_copies"][-1]
    text += [
        f"- **GPU figures from {where}.** The kernel alone beats the faster CPU path from "
        f"{_size(s['crossover_gpu_kernel'])}; counting the copies to and from the GPU, from "
        f"{_size(s['crossover_gpu_with_copies'])}.",
        f"- At {n_big:,} elements the addition with its copies takes {copies / kernel:.0f} "
        f"times as long as the kernel alone: the copies, not the arithmetic, set the time.",
        f"- The kernel alone reaches {s['models']['gpu_kernel'][1] / 1e9:,.0f} GB/s of "
        f"device-memory bandwidth (the fitted model); with copies the same work reaches "
        f"{s['models']['gpu_with_copies'][1] / 1e9:,.1f} GB/s.",
    ]
    return "\n".join(text)


# ---------------------------------------------------------------- the picture
def plot(live: dict | None, recorded: dict | None = None, ax=None):
    """Time and effective bandwidth against size: live curves solid, recorded ones dashed.

    live: a `measure()` result from this machine. recorded: `results.load(SLUG)`.
    Crossovers are marked only within one machine's data, GPU against its own host's CPU.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    t_ax, bw_ax = ax
    colours = {"numpy": "tab:blue", "numba_parallel": "tab:cyan",
               "gpu_kernel": "tab:green", "gpu_with_copies": "tab:red"}
    sets = []
    if live:
        sets.append(("live", "-", live))
    if recorded:
        sets.append((results.label(recorded), "--", recorded["figures"]["vector_add"]))
    for where, style, data in sets:
        sizes = np.array(data["sizes"])
        itemsize = np.dtype(data.get("dtype", "float32")).itemsize
        summary = summarise(data)
        for p in CPU_PATHS + GPU_PATHS:
            if p not in data:
                continue
            secs = np.array(data[p])
            kw = dict(color=colours[p], ls=style, marker="o", ms=3)
            t_ax.loglog(sizes, secs, label=f"{LABELS[p]} ({where})", **kw)
            bw_ax.semilogx(sizes, kernel_bytes(sizes, itemsize) / secs / 1e9, **kw)
            overhead, bw = summary["models"][p]
            t_ax.loglog(sizes, model_seconds(sizes, itemsize, bw, overhead), color=colours[p],
                        ls=":", lw=1, alpha=0.8)
        for p in GPU_PATHS:
            n = summary.get(f"crossover_{p}")
            if n is not None:
                for a in (t_ax, bw_ax):
                    a.axvline(n, color=colours[p], lw=1, alpha=0.6)
                t_ax.annotate(f"crossover\n{n:.0e}", (n, t_ax.get_ylim()[0]), color=colours[p],
                              fontsize=8, xytext=(3, 8), textcoords="offset points")
    t_ax.set(xlabel="elements (float32)", ylabel="seconds per addition",
             title="Time (dotted: overhead + bytes / bandwidth model)")
    bw_ax.set(xlabel="elements (float32)", ylabel="GB/s (3 x n x 4 bytes / time)",
              title="Effective bandwidth")
    for a in (t_ax, bw_ax):
        a.grid(True, which="major", alpha=0.3)
    t_ax.legend(fontsize=7, loc="upper left")
    t_ax.figure.tight_layout()
    return t_ax.figure


# ---------------------------------------------------------------- the checks
def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise AssertionError(f"{what} should return a number, got {value!r}")
    return value


def _close(got, want, what, rel=1e-9):
    got = _number(got, what)
    assert math.isclose(got, want, rel_tol=rel, abs_tol=1e-15), \
        f"{what}: expected {want!r}, got {got!r}"


def check_bytes(kernel_bytes_fn, copy_bytes_fn, hidden=False):
    """Exact byte counts for fixed cases, or (hidden) for fresh random ones."""
    cases = [(1, 4), (1000, 4), (10**8, 4), (10, 8), (7, 2)]
    if hidden:
        r = random.Random()
        cases = [(r.randint(1, 10**9), r.choice([1, 2, 4, 8])) for _ in range(20)]
    for n, s in cases:
        _close(kernel_bytes_fn(n, s), kernel_bytes(n, s), f"kernel_bytes({n}, {s})", rel=0)
        _close(copy_bytes_fn(n, s), copy_bytes(n, s), f"copy_bytes({n}, {s})", rel=0)
    print(f"bytes: {len(cases)} cases right")


def check_model(model_fn, hidden=False):
    cases = [(10**6, 4, 300e9, 0.0, None), (10**6, 4, 300e9, 5e-6, None),
             (10**8, 4, 2e12, 4e-6, 12e9), (1, 8, 1e9, 0.0, 1e9)]
    if hidden:
        r = random.Random()
        cases = [(r.randint(1, 10**9), r.choice([2, 4, 8]), r.uniform(1e10, 4e12),
                  r.choice([0.0, r.uniform(1e-6, 1e-4)]), r.choice([None, r.uniform(1e9, 6e10)]))
                 for _ in range(20)]
    for n, s, bw, o, link in cases:
        _close(model_fn(n, s, bw, overhead=o, link_bandwidth=link),
               model_seconds(n, s, bw, o, link),
               f"model_seconds({n}, {s}, bandwidth={bw:.3g}, overhead={o:.3g}, "
               f"link_bandwidth={link if link is None else format(link, '.3g')})")
    print(f"model: {len(cases)} cases right")


class FakeDevice:
    """A GPU stand-in on a clock it controls: launches return at once, work ends at sync()."""

    def __init__(self, launch_cost=1e-6):
        self.now, self.queued, self.launch_cost, self.calls = 0.0, 0.0, launch_cost, 0
        self.read_while_busy = False   # the clock was read with work still queued

    def clock(self):
        self.read_while_busy |= self.queued > 0
        return self.now

    def launch(self, seconds):
        self.now += self.launch_cost
        self.queued += seconds
        self.calls += 1

    def sync(self):
        self.now += self.queued
        self.queued = 0.0


def _timer_probe(timer, durations, repeats, warmup, pending):
    """Where the timer runs: on a FakeDevice, what it returned and what the device saw."""
    dev = FakeDevice()
    dev.launch(pending)                       # someone else's work, still running
    dev.calls = 0
    it = iter(durations)
    got = timer(lambda: dev.launch(next(it)), dev.sync, repeats=repeats, warmup=warmup,
                clock=dev.clock)
    number = isinstance(got, (int, float, np.integer, np.floating)) and not isinstance(got, bool)
    return {"got": got if number else None, "shown": repr(got)[:80],
            "calls": dev.calls, "read_while_busy": dev.read_while_busy, "launch_cost": dev.launch_cost}


def _timer_case(timer, durations, repeats, warmup, pending=0.0):
    seen = probe(timer, _timer_probe, durations, repeats, warmup, pending)
    cost = seen["launch_cost"]
    want = statistics.median(d + cost for d in durations[warmup:warmup + repeats])
    what = (f"time_call on kernels lasting {durations} s, repeats={repeats}, warmup={warmup}"
            + (f", with {pending} s of earlier work still queued" if pending else ""))
    assert seen["calls"] == warmup + repeats, \
        f"{what}: fn should be called {warmup + repeats} times, was called {seen['calls']}"
    if seen["got"] is None:
        raise AssertionError(f"time_call should return a number of seconds, got {seen['shown']}")
    got = _number(seen["got"], "time_call")
    if math.isclose(got, cost, rel_tol=1e-6) and want > 10 * cost:
        raise AssertionError(f"{what}: got {got} s, the launch time only: did you synchronise "
                             "after fn() before reading the clock?")
    try:
        _close(got, want, what)
    except AssertionError as wrong:
        if seen["read_while_busy"]:
            raise AssertionError(f"{wrong}: the clock was read while earlier work (warm-up calls "
                                 "or work queued before the timer) was still running; synchronise "
                                 "before starting the clock") from None
        raise


def check_time_call(timer, hidden=False):
    """The timer syncs before and after, skips warm-up, takes the median, reads `clock`."""
    cases = [
        ([0.002] * 6, 5, 1, 0.0),                 # plain: 2 ms kernels
        ([1.0, 0.001, 0.001, 0.001], 3, 1, 0.0),  # warm-up call compiles for 1 s
        ([1.0], 1, 0, 0.0),                       # no warm-up: the first call is timed
        ([0.001], 1, 0, 5.0),                     # 5 s of work already queued
        ([0.001] * 4 + [0.1], 5, 0, 0.0),         # one slow outlier: median, not mean
        ([0.001, 0.003, 0.002, 0.004], 4, 0, 0.0),  # even count: middle two averaged
    ]
    if hidden:
        r = random.Random()
        cases = []
        for _ in range(12):
            warmup, repeats = r.randint(0, 3), r.randint(1, 9)
            durs = [r.uniform(1e-4, 0.5) for _ in range(warmup + repeats)]
            cases.append((durs, repeats, warmup, r.choice([0.0, r.uniform(0.5, 9.0)])))
    for durs, repeats, warmup, pending in cases:
        _timer_case(timer, durs, repeats, warmup, pending)
    print(f"time_call: {len(cases)} fake-device cases right")


def check_crossover(fn, hidden=False):
    sizes = [10**k for k in range(3, 9)]
    cpu = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    cases = [
        (sizes, cpu, [1e-5, 1e-5, 2e-5, 1e-4, 1e-3, 1e-2], 10**5),   # GPU wins from 1e5
        (sizes, cpu, [2e-5, 2e-4, 2e-3, 2e-2, 2e-1, 2.0], None),     # GPU never wins
        (sizes, cpu, [1e-7] * 6, 10**3),                              # GPU always wins
        (sizes, cpu, [1e-7, 2e-4, 1e-5, 1e-4, 1e-3, 1e-2], 10**5),   # an early fluke win
        (sizes, cpu, [1e-5, 1e-5, 1e-4, 1e-4, 1e-3, 1e-2], 10**6),   # a tie is not a win
        (sizes, cpu, [1e-5, 1e-5, 1e-5, 1e-5, 1e-5, 2.0], None),     # loses at the top
    ]
    if hidden:
        r = random.Random()
        cases = []
        for _ in range(20):
            k = r.randint(2, 12)
            s = sorted(r.sample(range(1, 10**9), k))
            c = [r.uniform(1e-6, 1) for _ in s]
            g = [ci * r.choice([0.5, 2.0, 1.0]) for ci in c]
            cases.append((s, c, g, crossover(s, c, g)))
    for s, c, g, want in cases:
        got = fn(list(s), list(c), list(g))
        got_np = fn(np.array(s), np.array(c), np.array(g))
        for x in (got, got_np):
            assert (x is None) == (want is None) and (want is None or x == want), \
                f"crossover(sizes={s}, cpu={c}, gpu={g}): expected {want}, got {x!r}"
    print(f"crossover: {len(cases)} cases right")

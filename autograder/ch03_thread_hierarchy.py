"""Chapter 3, the thread hierarchy: indices, launch configurations, grid-stride loops.

Three layers, as elsewhere in the package: pure arithmetic (`launch_config`, `element_map`),
the picture (`thread_map`, which the page draws statically and the notebook's widget redraws),
and the checks. The page's kernel, x = 2 * x + 1 in place, has its checks here
(`check_guarded`, `check_grid_stride`); the exercise asks other cases (a thread named by block,
warp and lane; a grid capped per multiprocessor; an in-place reverse, one thread per pair) and
its checks compute what is expected from definitions, not from an answer kept here. The kernel
checks are thin wrappers over `kernels.check_kernel`: they fix the launches (grids deliberately
smaller than the data for the grid-stride loops) and add the hints these mistakes need.

Known limitations: on a CPU the Numba kernels run in the simulator (about 0.5 ms per CUDA
thread), so the kernel checks keep to a few hundred threads; the per-block limit the checks
enforce is CUDA's 1024 (every GPU since compute capability 2.0), not the student's device's
own figure, which the page reads with `device.gpu_threads()`.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from . import device
from . import kernels

SLUG = "ch03_thread_hierarchy"
FALLBACK = ("Numba kernels run in Numba's CUDA simulator and CUDA C kernels in a CPU shim under "
            "AddressSanitizer and ThreadSanitizer, so every check grades the same as on a GPU; the "
            "device's limits come from the CUDA specification, or from figures recorded on a GPU.")
MAX_THREADS = kernels.MAX_THREADS_PER_BLOCK      # CUDA's limit per block, the same on every GPU since 2010
WARP = 32                                   # threads that execute one instruction together

# The reference kernel `record()` launches on a GPU (the page writes its own; the exercise asks others).
SCALE_SHIFT_C = r'''
extern "C" __global__ void scale_shift(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        x[i] = 2.0f * x[i] + 1.0f;
    }
}
'''


# ---------------------------------------------------------------- the arithmetic
def launch_config(n: int, threads_per_block: int = 256) -> tuple[int, int]:
    """(blocks, threads): the fewest blocks of `threads_per_block` that cover n elements."""
    if not 1 <= threads_per_block <= MAX_THREADS:
        raise ValueError(f"threads_per_block must be 1..{MAX_THREADS}, got {threads_per_block}")
    return (n + threads_per_block - 1) // threads_per_block, threads_per_block


def element_map(n: int, blocks: int, threads: int, stride: bool = False) -> np.ndarray:
    """Who handles each element: an int array of shape (passes, blocks * threads).

    Column g is the thread with global index g; row r is the r-th turn of its grid-stride loop
    (one row without `stride`). Cell (r, g) is element r * blocks * threads + g. Its value is g
    when that thread handles it, -1 when the thread sits idle there (element >= n, the guard
    stops it), -2 when the element exists but no thread reaches it (no stride loop), and -3
    for a cell past n that no thread visits either (nothing to draw).
    """
    if n < 1 or blocks < 1 or threads < 1:
        raise ValueError(f"n, blocks and threads must be at least 1, got {n}, {blocks}, {threads}")
    total = blocks * threads
    passes = math.ceil(n / total)
    if passes * total > 2**22:
        raise ValueError(f"{passes} x {total} cells is too many to draw; use a smaller n or grid")
    element = np.arange(passes * total).reshape(passes, total)
    g = np.broadcast_to(np.arange(total), element.shape)
    handled = (element < n) & (stride | (element < total))
    visited = stride | (element < total)               # a thread's loop reaches this cell
    return np.where(handled, g, np.where(element < n, -2, np.where(visited, -1, -3)))


# ---------------------------------------------------------------- the picture
IDLE = (0.86, 0.86, 0.86)
UNHANDLED = (0.85, 0.1, 0.1)


def thread_map(n: int, blocks: int, threads: int, stride: bool = False, ax=None):
    """Figure: which block (colour) and thread (shade) handles each of n elements.

    Columns are the threads of the grid, by global index; each row is one turn of a grid-stride
    loop. Grey cells are threads that are idle there (the guard i < n stops them); red cells are
    elements no thread reaches (a grid too small and no stride loop).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    m = element_map(n, blocks, threads, stride)
    passes, total = m.shape
    palette = [plt.get_cmap("tab10").colors[k] for k in (0, 1, 2, 4, 5, 6, 8, 9)]  # no red, no grey
    g = np.maximum(m, 0)
    base = np.array(palette)[(g // threads) % len(palette)]                 # colour: the block
    shade = 0.15 + 0.6 * (g % threads) / max(threads - 1, 1)                # lighter: higher threadIdx
    rgb = base + (1 - base) * shade[..., None]
    rgb[m == -1] = IDLE
    rgb[m == -2] = UNHANDLED
    rgb[m == -3] = (1.0, 1.0, 1.0)
    if ax is None:
        width = min(13.0, 3 + 0.3 * total)
        fig, ax = plt.subplots(figsize=(width, min(6.0, 1.3 + 0.45 * passes)))
    ax.imshow(rgb, aspect="auto", interpolation="nearest")
    if total * passes <= 512:   # small enough to write every element's index in its cell
        for (r, c), who in np.ndenumerate(m):
            if who in (-1, -3):
                continue        # an idle thread: there is no element to name
            colour = "white" if who == -2 else "black"
            ax.text(c, r, str(r * total + c), ha="center", va="center", fontsize=7, color=colour)
    if blocks <= 64:
        for b in range(1, blocks):
            ax.axvline(b * threads - 0.5, color="black", lw=1.5)
    ticks = [b * threads + (threads - 1) / 2 for b in range(blocks)] if blocks <= 16 else []
    ax.set_xticks(ticks, [f"block {b}" for b in range(len(ticks))], fontsize=8)
    ax.set_yticks(range(passes) if passes <= 12 else [],
                  [f"turn {r}" if stride else f"from {r * total}" for r in range(passes)] if passes <= 12 else [],
                  fontsize=8)
    ax.set_xlabel(f"threads of the grid, by global index (threadIdx.x 0..{threads - 1} in each block, "
                  f"lighter = higher)", fontsize=8)
    busiest = int((m >= 0).sum(axis=0).max())
    title = f"n = {n:,}, {blocks} blocks x {threads} threads = {total:,} threads"
    if stride:
        title += f", grid-stride loop: up to {busiest} element{'s' * (busiest > 1)} per thread"
    ax.set_title(title, fontsize=10)
    legend = [Patch(color=palette[b % len(palette)], label=f"block {b}") for b in range(min(blocks, 4))]
    if (m == -1).any():
        legend.append(Patch(color=IDLE, label=f"idle thread: i >= n ({int((m == -1).sum())})"))
    if (m == -2).any():
        legend.append(Patch(color=UNHANDLED, label=f"element never written ({int((m == -2).sum()):,})"))
    ax.legend(handles=legend, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.figure.tight_layout()
    return ax.figure


def explorer(n: int = 60, blocks: int = 3, threads: int = 8, stride: bool = True):
    """`thread_map` behind sliders for n, blocks and threads and a box for the grid-stride loop,
    redrawn on every change; on a static page, the map at these starting values."""
    from .widgets import interact
    return interact(thread_map, dict(n=n, blocks=blocks, threads=threads, stride=stride),
                    n=(1, 300), blocks=(1, 8), threads=(1, 64), stride=False)


# ---------------------------------------------------------------- the checks: indices
# The exercise asks the page's ideas on other cases: a thread named by (block, warp, lane), a
# grid capped at a few blocks per multiprocessor, an in-place reverse (one thread per pair of
# elements) guarded and as a grid-stride loop. Expected values come from the definitions
# (threadIdx.x = 32 * warp + lane, ceil and min, x[::-1]), not from an answer kept here.
def _int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise AssertionError(f"{what} should return an int, got {value!r}")
    return int(value)


def check_indexing(flat_index_fn, locate_fn, hidden=False):
    """flat_index(block, warp, lane, block_dim) and its inverse locate(i, block_dim) on fixed
    cases, or (hidden) fresh random ones; block sizes that are not a multiple of 32 among them
    (warps are cut inside each block, so a lane is not i % 32 there)."""
    cases = [(0, 256, 0), (0, 256, 255), (1, 256, 0), (3, 128, 37), (1953, 256, 31), (0, 1, 0),
             (7, 1024, 1023), (488, 1024, 287), (1, 100, 99), (2, 100, 0), (5, 48, 40)]
    if hidden:
        r = random.Random()
        # telling cases first, drawn afresh: an odd block of 48 threads (warps cut inside it, so
        # i % 32 is not the lane) and a thread whose warp and lane differ (swapped, they agree)
        d, w = r.choice([256, 512, 1024]), r.randrange(8)
        cases = [(2 * r.randint(0, 5 * 10**5) + 1, 48, r.randint(0, 47)),
                 (r.randint(0, 10**6), d, WARP * w + r.choice([lane for lane in range(WARP) if lane != w]))]
        cases += [(r.randint(0, 10**6), d, r.randint(0, d - 1))
                  for d in (r.choice([1, 32, 48, 64, 96, 100, 128, 200, 256, 500, 512, 1000, 1024]) for _ in range(28))]
    for b, d, t in cases:
        w, lane = divmod(t, WARP)               # threadIdx.x = 32 * warp + lane, inside block b
        i = b * d + t
        got = _int(flat_index_fn(b, w, lane, d), f"flat_index({b}, {w}, {lane}, {d})")
        assert got == i, (f"flat_index(block={b}, warp={w}, lane={lane}, block_dim={d}): expected {i}, got {got} "
                          f"(thread {t} of block {b}: {b} blocks of {d} threads before it)")
        got = locate_fn(i, d)
        if not (isinstance(got, (tuple, list)) and len(got) == 3):
            raise AssertionError(f"locate({i}, {d}) should return a triple (block, warp, lane), got {got!r}")
        got = tuple(_int(v, f"locate({i}, {d})[{k}]") for k, v in enumerate(got))
        if got != (b, w, lane):
            hint = ""
            if got[2] == i % WARP != lane:
                hint = (f": warps are cut inside each block, so the lane counts from the block's first thread, "
                        f"threadIdx.x = {t}, not from 0 of the grid")
            raise AssertionError(f"locate(i={i}, block_dim={d}): expected (block {b}, warp {w}, lane {lane}), "
                                 f"got {got}{hint}")
    print(f"indexing: {len(cases)} cases right")


def check_grid_for(grid_for_fn, hidden=False):
    """grid_for(n, sm_count) -> (blocks, threads) for a grid-stride kernel: threads a multiple of
    32 and at most 1024; blocks the fewest that cover n, but at most 4 per multiprocessor."""
    cases = [(n, s) for n in (1, 31, 1000, 40_000, 500_000, 10**8) for s in (1, 40, 80, 132)]
    if hidden:
        r = random.Random()
        cases = [(r.randint(1, 10**9), r.randint(1, 200)) for _ in range(20)]
        cases += [(r.randint(1, 5000), r.randint(40, 200)) for _ in range(10)]     # grids below the cap
    for n, sms in cases:
        what = f"grid_for({n}, {sms})"
        got = grid_for_fn(n, sms)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise AssertionError(f"{what} should return (blocks, threads), got {got!r}")
        blocks, threads = (_int(v, what) for v in got)
        kernels.validate_launch(blocks, threads, label=f"{what} = ({blocks}, {threads})")
        if threads % WARP:
            raise AssertionError(f"{what} = ({blocks}, {threads}): {threads} threads is not a multiple of the warp "
                                 f"size {WARP}, so the last warp of every block runs partly empty")
        cap, need = 4 * sms, -(-n // threads)
        if blocks > cap:
            raise AssertionError(f"{what} = ({blocks}, {threads}): more than 4 blocks per multiprocessor "
                                 f"({cap}); the grid-stride loop covers the rest of the {n:,} elements")
        if blocks < min(need, cap):
            raise AssertionError(f"{what} = ({blocks}, {threads}): {min(need, cap)} blocks expected"
                                 + (f": {blocks} x {threads} threads leave multiprocessors idle while elements wait"
                                    if need > blocks else ""))
        if blocks > need:
            raise AssertionError(f"{what} = ({blocks}, {threads}): {need} blocks already cover {n:,} elements; "
                                 f"the others would be all idle threads")
    print(f"grid sizes: {len(cases)} cases right")


# ---------------------------------------------------------------- the checks: kernels
# The chapter's kernel updates x in place, x[i] = 2 * x[i] + 1, so that an element handled twice
# (a loop stepping by blockDim.x instead of the grid) shows as a wrong value, not just a race.
@dataclass
class _Case(kernels.Case):
    original: np.ndarray | None = None         # x before the launch, for the hints


def _at(case: _Case, idx, got):
    """The first wrong element, its value before and after the launch, and the grid's threads."""
    first = int(np.ravel_multi_index(idx, got.shape))
    return first, float(case.original[first]), float(got[idx]), case.launch.grid3[0] * case.launch.block3[0]


def _one_grid(case: _Case, got, total: int, pairs: bool = False) -> bool:
    """Exactly the first grid's worth of work done (elements, or pairs: each end's first `total`)
    and the rest untouched, judged on the whole array: an extreme value at x[total], such as
    inf, is its own result, and a first-wrong index then says nothing."""
    done = np.arange(got.size) < total
    if pairs:
        done |= done[::-1]
    if done.all():
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.allclose(got[done], case.expected[0][done], rtol=1e-4, atol=1e-5, equal_nan=True)
                    and np.array_equal(got[~done], case.original[~done], equal_nan=True))


def _stride_hint(case: _Case, idx, got) -> str:
    width = kernels.index_width_hint(case, idx, got)
    if width:
        return width
    first, before, now, total = _at(case, idx, got)
    if now == before:
        text = f"x[{first}] still holds its input: no thread handled it"
        if _one_grid(case, got, total):
            text += (f". Elements 0..{total - 1}, exactly one grid's worth ({case.launch.grid3[0]} block{'s' * (case.launch.grid3[0] > 1)} x "
                     f"{case.launch.block3[0]} threads), are right: each thread must loop, stepping by the "
                     f"whole grid (cuda.gridsize(1), or blockDim.x * gridDim.x in CUDA C)")
        return text
    if math.isfinite(before) and math.isclose(now, 4 * before + 3, rel_tol=1e-4, abs_tol=1e-5):
        return (f"x[{first}] was updated twice (2 * (2x + 1) + 1): two threads handled it. A loop must "
                f"step by the whole grid, blockDim.x * gridDim.x (cuda.gridsize(1)), not by blockDim.x")
    return f"Elements 0..{first - 1} are right" if first and case.launch.blocks is None else ""


def _inplace_cases(kernel, launches, rng, fn=lambda x: 2 * x + 1):
    """x = fn(x) in place for each (n, blocks, threads); x holds extreme values too. A launch
    past 65,536 elements with one thread per element runs only its last two blocks on the CPU."""
    c_code = kernels.is_cuda_c(kernel)
    names = ["x"] + (["n"] if c_code else [])
    cases = []
    for n, blocks, threads in launches:
        x = kernels.with_extremes(rng.standard_normal(n).astype(np.float32), rng)
        args = [x.copy()] + ([np.int32(n)] if c_code else [])
        tail = kernels.tail(blocks) if n > kernels.WIDE_INDEX and blocks * threads >= n else None
        launch = kernels.Launch(blocks, threads, args, label=f"n={n}", blocks=tail)
        with np.errstate(over="ignore", invalid="ignore"):
            want = fn(x).copy()
        compared = {0: kernels.owned((n,), blocks, threads, tail)} if tail else {}
        cases.append(_Case(launch, {0: want}, names=names, original=x, compared=compared))
    return cases


def _stride_advice(case, err) -> str | None:
    """A race in a grid-stride loop: two threads handled one element, so the loop's step is wrong."""
    if err.info.get("kind") not in ("race", "double write") or err.info.get("shared"):
        return None
    return ("Two threads handled the same element. A grid-stride loop must step by the whole grid, "
            "cuda.gridsize(1) in Numba (blockDim.x * gridDim.x in CUDA C), and start at the thread's global "
            "index: stepping by blockDim.x, every block walks the same elements")


def plan_guarded(hidden: bool = False, seed: int | None = None):
    """(n, blocks, threads) of check_guarded: blocks = ceil(n / threads), and no n a multiple of
    the block, so that the last block always has idle threads."""
    if not hidden:
        plan = [(1, 64), (5, 64), (63, 64), (65, 64), (200, 64), (33, 32), (150, 32), (65_601, 64)]
    else:
        plan = [(n, t) for n, t in kernels.plan_1d(np.random.default_rng(seed), (32, 64, 96, 128)) if n % t]
    return [(n, math.ceil(n / t), t) for n, t in plan]


# the visible checks' data, fixed: drawn afresh, an extreme value (inf, a denormal) landed on the
# element that tells a bug one run in 50 and the check named the next one
VISIBLE_SEED = 4


def _check(kernel, name, launches, seed, what, advice, verbose, fn=lambda x: 2 * x + 1, hint=_stride_hint):
    rng = np.random.default_rng(seed)
    return kernels.check_kernel(kernel, lambda size: _inplace_cases(kernel, launches, rng, fn),
                                check_name=f"{what} ({kernels.kernel_name(kernel, name)})", name=name,
                                hint=hint, verbose=verbose, advice=advice, single_writer=True)


def check_guarded(kernel, name=None, hidden=False, verbose=True, seed=None):
    """One thread per element with the guard: x[i] = 2 * x[i] + 1, blocks = ceil(n / threads).

    Numba kernel(x); CUDA C kernel(float* x, int n). Every n here leaves idle threads in the last
    block, so a kernel without `if i < n` touches x past its end and fails with that index.
    """
    kernels.need_name(kernel, name, "check_guarded")
    return _check(kernel, name, plan_guarded(hidden, seed), seed if hidden else VISIBLE_SEED, "guarded kernel",
                  kernels.one_writer_advice, verbose)


def plan_grid_stride(hidden: bool = False, seed: int | None = None):
    """(n, blocks, threads) of check_grid_stride: grids smaller than n, one of a single block,
    the others of several (a loop stepping by blockDim.x passes a single block), and one n past
    65,536 (a 16-bit loop index never reaches it)."""
    if not hidden:
        return [(100, 1, 32), (300, 2, 32), (257, 3, 16), (7, 1, 32), (1000, 4, 64), (65_600, 2, 64)]
    rng = np.random.default_rng(seed)
    launches = [(int(rng.integers(40, 401)), 1, int(rng.choice([16, 32, 64])))]
    for _ in range(3):
        blocks, threads = int(rng.integers(2, 6)), int(rng.choice([8, 16, 32, 64]))
        launches.append((int(rng.integers(blocks * threads + 1, 4 * blocks * threads + 1)), blocks, threads))
    launches.append((kernels.WIDE_INDEX + int(rng.integers(1, 200)), int(rng.integers(2, 4)), 64))
    return launches


def check_grid_stride(kernel, name=None, hidden=False, verbose=True, seed=None):
    """x[i] = 2 * x[i] + 1 through a grid-stride loop, on fixed grids smaller than n.

    Numba kernel(x); CUDA C kernel(float* x, int n). A single block, and
    grids whose size does not divide n, must cover every element once.
    """
    kernels.need_name(kernel, name, "check_grid_stride")
    return _check(kernel, name, plan_grid_stride(hidden, seed), seed if hidden else VISIBLE_SEED,
                  "grid-stride loop", _stride_advice, verbose)


# ---------------------------------------------------------------- the checks: the exercise's kernels
# The exercise's kernels reverse x in place, one thread per pair: x[i] <-> x[n - 1 - i] for
# i < n // 2. A thread past the half swaps the pair of thread n - 1 - i back, so a guard or a
# loop bound of n instead of n // 2 shows as two threads on one element, or as a wrong value.
def _reverse_hint(case: _Case, idx, got) -> str:
    width = kernels.index_width_hint(case, idx, got)
    if width:
        return width
    first, before, now, total = _at(case, idx, got)
    with np.errstate(over="ignore", invalid="ignore"):
        page = np.allclose(got, 2 * case.original + 1, rtol=1e-4, atol=1e-5, equal_nan=True)
    if page:
        return (f"x[{first}] = 2 * x[{first}] + 1, as everywhere: that is the chapter's scale_shift. Here thread i "
                f"swaps x[i] and x[n - 1 - i]")
    if now == before or (math.isnan(now) and math.isnan(before)):
        text = (f"x[{first}] still holds its input: its pair was never swapped, or swapped twice (a thread with "
                f"i >= n // 2 swaps the pair of thread n - 1 - i back)")
        if _one_grid(case, got, total, pairs=True):
            text += (f". Pairs 0..{total - 1}, exactly one grid's worth ({case.launch.grid3[0]} x "
                     f"{case.launch.block3[0]} threads), are right: each thread must loop over pairs, stepping by "
                     f"the whole grid")
        return text
    return ""


def _reverse_advice(case, err) -> str | None:
    """Two threads on one element of a reverse: a thread past the half, or a loop's step."""
    if _stride_advice(case, err) is None:
        return None
    return ("Two threads handled the same element. Thread i swaps x[i] with x[n - 1 - i], so only the threads "
            "i < n // 2 may swap (a thread past the half swaps its partner's pair back): the guard, or the "
            "loop's bound, is n // 2, and a loop steps by the whole grid (cuda.gridsize(1), blockDim.x * gridDim.x)")


def plan_reverse(hidden: bool = False, seed: int | None = None):
    """(n, blocks, threads) of check_reverse: blocks = ceil((n // 2) / threads), each with idle
    threads past the half (so a guard of n, not n // 2, swaps pairs back); odd and even n."""
    if not hidden:
        plan = [(1, 64), (2, 64), (5, 64), (64, 64), (131, 64), (300, 32), (257, 32), (96, 32)]
    else:
        rng = np.random.default_rng(seed)
        plan = [(n, t) for n, t in kernels.plan_1d(rng, (32, 64, 96, 128), large=False) if (n // 2) % t]
        plan += [(1, int(rng.choice([32, 64]))), (2 * int(rng.integers(2, 200)) + 1, 32)]
    return [(n, max(1, math.ceil(n // 2 / t)), t) for n, t in plan]


def check_reverse(kernel, name=None, hidden=False, verbose=True, seed=None):
    """x reversed in place, one thread per pair, blocks = ceil((n // 2) / threads).

    Numba kernel(x); CUDA C kernel(float* x, int n). Known limitation: no case past 65,536
    elements here (one thread per pair would be too many threads for the simulator).
    """
    kernels.need_name(kernel, name, "check_reverse", "reverse")
    return _check(kernel, name, plan_reverse(hidden, seed), seed if hidden else VISIBLE_SEED, "reverse",
                  _reverse_advice, verbose, fn=lambda x: x[::-1], hint=_reverse_hint)


def plan_reverse_stride(hidden: bool = False, seed: int | None = None):
    """(n, blocks, threads) of check_reverse_stride: grids smaller than the pairs, one of a
    single block, one grid larger than the pairs (the loop's bound must stop the threads past the
    half), one of some thousand elements (long loops). Known limitation: no n past 65,536 (a loop
    over that many pairs is too slow for the simulator; the page's check_grid_stride has one)."""
    if not hidden:
        return [(200, 1, 32), (601, 2, 32), (515, 3, 16), (15, 1, 32), (2001, 4, 64), (8_001, 2, 64)]
    rng = np.random.default_rng(seed)
    launches = [(int(rng.integers(80, 801)), 1, int(rng.choice([16, 32, 64])))]
    for _ in range(3):
        blocks, threads = int(rng.integers(2, 6)), int(rng.choice([8, 16, 32, 64]))
        launches.append((int(rng.integers(2 * blocks * threads + 2, 8 * blocks * threads + 1)), blocks, threads))
    launches.append((int(rng.integers(3, 30)), 1, 32))
    launches.append((int(rng.integers(4000, 9001)), int(rng.integers(2, 4)), 64))      # long loops
    return launches


def check_reverse_stride(kernel, name=None, hidden=False, verbose=True, seed=None):
    """x reversed in place through a grid-stride loop over the n // 2 pairs, on fixed grids
    mostly smaller than the pairs. Numba kernel(x); CUDA C kernel(float* x, int n)."""
    kernels.need_name(kernel, name, "check_reverse_stride", "reverse_stride")
    return _check(kernel, name, plan_reverse_stride(hidden, seed), seed if hidden else VISIBLE_SEED,
                  "grid-stride reverse", _reverse_advice, verbose, fn=lambda x: x[::-1], hint=_reverse_hint)


# ---------------------------------------------------------------- the GPU figures
def launch_error_on_gpu(threads: int = 500_000, dry: bool = False) -> str:
    """What the GPU itself says to one block of `threads` threads (CuPy's RawKernel, no checks of
    ours; dry: what the CPU stand-in says, the course's own launch check)."""
    b = kernels.bench(dry)
    kern = b.raw_kernel(SCALE_SHIFT_C, "scale_shift")
    x = b.xp.zeros(threads, np.float32)
    try:
        kern((1,), (threads,), (x, np.int32(threads)))
        b.sync()
    except Exception as exc:  # the CUDA error, as the driver words it
        return f"{type(exc).__name__}: {exc}"
    return "no error (this GPU accepted the launch)"


def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores for this chapter: the device's limits and its own error.
    dry: the same walk on the CPU stand-in (this CPU's cores for the limits)."""
    if not (dry or device.detect().cuda):
        raise RuntimeError("no GPU: chapter 3 records nothing on a CPU-only machine")
    figures = {"threads": device.gpu_threads() or device.stand_in_threads()}
    try:
        figures["launch_error"] = launch_error_on_gpu(dry=dry)
    except ImportError:
        figures["launch_error"] = None   # CuPy absent: the limits alone
    return figures

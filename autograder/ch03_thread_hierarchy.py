"""Chapter 3, the thread hierarchy: indices, launch configurations, grid-stride loops.

Three layers, as elsewhere in the package: pure arithmetic (`global_index`, `owner`,
`launch_config`, `element_map`), the picture (`thread_map`, which the page draws statically
and the notebook's widget redraws), and the checks the exercise calls. The kernel checks are
thin wrappers over `kernels.check_kernel`: they fix the chapter's launches (grids deliberately
smaller than the data for the grid-stride loop) and add the hints these mistakes need.

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

# The reference kernels `record()` launches on a GPU (the page and the exercise write their own).
SCALE_SHIFT_C = r'''
extern "C" __global__ void scale_shift(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        x[i] = 2.0f * x[i] + 1.0f;
    }
}
'''


# ---------------------------------------------------------------- the arithmetic
def global_index(block_idx: int, block_dim: int, thread_idx: int) -> int:
    """The element a thread handles first: blockIdx.x * blockDim.x + threadIdx.x."""
    return block_idx * block_dim + thread_idx


def owner(i: int, threads_per_block: int) -> tuple[int, int]:
    """(blockIdx.x, threadIdx.x) of the thread whose global index is i: the inverse of the above."""
    return i // threads_per_block, i % threads_per_block


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
def _int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise AssertionError(f"{what} should return an int, got {value!r}")
    return int(value)


def check_indexing(global_index_fn, owner_fn, hidden=False):
    """global_index and owner on fixed cases, or (hidden) on fresh random ones."""
    cases = [(0, 256, 0), (0, 256, 255), (1, 256, 0), (3, 128, 5), (1953, 256, 31), (0, 1, 0),
             (7, 1024, 1023), (488, 1024, 287)]
    if hidden:
        r = random.Random()
        cases = [(r.randint(0, 10**6), d, r.randint(0, d - 1))
                 for d in (r.choice([1, 32, 64, 96, 128, 256, 500, 512, 1024]) for _ in range(30))]
    for b, d, t in cases:
        got = _int(global_index_fn(b, d, t), f"global_index({b}, {d}, {t})")
        assert got == global_index(b, d, t), \
            f"global_index(block_idx={b}, block_dim={d}, thread_idx={t}): expected {global_index(b, d, t)}, got {got}"
        i = global_index(b, d, t)
        got = owner_fn(i, d)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise AssertionError(f"owner({i}, {d}) should return a pair (block, thread), got {got!r}")
        got = (_int(got[0], f"owner({i}, {d})[0]"), _int(got[1], f"owner({i}, {d})[1]"))
        assert got == (b, t), f"owner(i={i}, threads_per_block={d}): expected (block {b}, thread {t}), got {got}"
    print(f"indexing: {len(cases)} cases right")


def check_launch_config(launch_config_fn, hidden=False):
    """launch_config(n) -> (blocks, threads): legal, covering n, without a wasted block."""
    sizes = [500_000, 1, 31, 32, 1024, 1025, 10**8]
    if hidden:
        r = random.Random()
        # an exact multiple of 1024 (so of every power-of-two block) catches one block too many
        sizes = [500_000, 1024 * r.randint(1, 10**6)] + [r.randint(1, 10**9) for _ in range(19)]
    notes = set()
    for n in sizes:
        got = launch_config_fn(n)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise AssertionError(f"launch_config({n}) should return (blocks, threads), got {got!r}")
        blocks, threads = (_int(v, f"launch_config({n})") for v in got)
        kernels.validate_launch(blocks, threads, label=f"launch_config({n}) = ({blocks}, {threads})")
        assert blocks * threads >= n, (
            f"launch_config({n}) = ({blocks}, {threads}) gives {blocks * threads:,} threads for {n:,} "
            f"elements: {n - blocks * threads:,} elements would never be written")
        assert (blocks - 1) * threads < n, (
            f"launch_config({n}) = ({blocks}, {threads}): {blocks - 1} blocks already cover {n:,} "
            f"elements, the last block would be all idle threads; blocks = ceil(n / threads)")
        if threads % WARP:
            notes.add(f"{threads} threads is not a multiple of the warp size {WARP}: the last warp of "
                      f"every block runs partly empty")
    print(f"launch configurations: {len(sizes)} sizes right" + "".join(f". Note: {t}" for t in notes))


# ---------------------------------------------------------------- the checks: kernels
# The chapter's kernel updates x in place, x[i] = 2 * x[i] + 1, so that an element handled twice
# (a loop stepping by blockDim.x instead of the grid) shows as a wrong value, not just a race.
@dataclass
class _Case(kernels.Case):
    original: np.ndarray | None = None         # x before the launch, for the hints


def _stride_hint(case: _Case, idx, got) -> str:
    width = kernels.index_width_hint(case, idx, got)
    if width:
        return width
    first = int(np.ravel_multi_index(idx, got.shape))
    before, now = float(case.original[first]), float(got[idx])
    total = case.launch.grid3[0] * case.launch.block3[0]
    if now == before:
        text = f"x[{first}] still holds its input: no thread handled it"
        if first == total:
            text += (f". Elements 0..{total - 1}, exactly one grid's worth ({case.launch.grid3[0]} block{'s' * (case.launch.grid3[0] > 1)} x "
                     f"{case.launch.block3[0]} threads), are right: each thread must loop, stepping by the "
                     f"whole grid (cuda.gridsize(1), or blockDim.x * gridDim.x in CUDA C)")
        return text
    if math.isfinite(before) and math.isclose(now, 4 * before + 3, rel_tol=1e-4, abs_tol=1e-5):
        return (f"x[{first}] was updated twice (2 * (2x + 1) + 1): two threads handled it. A loop must "
                f"step by the whole grid, blockDim.x * gridDim.x (cuda.gridsize(1)), not by blockDim.x")
    return f"Elements 0..{first - 1} are right" if first and case.launch.blocks is None else ""


def _scale_shift_cases(kernel, launches, rng):
    """x = 2 * x + 1 in place for each (n, blocks, threads); x holds extreme values too. A launch
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
            want = 2 * x + 1
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


def _check(kernel, name, launches, seed, what, advice, verbose):
    rng = np.random.default_rng(seed)
    return kernels.check_kernel(kernel, lambda size: _scale_shift_cases(kernel, launches, rng),
                                check_name=f"{what} ({kernels.kernel_name(kernel, name)})", name=name,
                                hint=_stride_hint, verbose=verbose, advice=advice, single_writer=True)


def check_guarded(kernel, name=None, hidden=False, verbose=True, seed=None):
    """One thread per element with the guard: x[i] = 2 * x[i] + 1, blocks = ceil(n / threads).

    Numba kernel(x); CUDA C kernel(float* x, int n). Every n here leaves idle threads in the last
    block, so a kernel without `if i < n` touches x past its end and fails with that index.
    """
    kernels.need_name(kernel, name, "check_guarded")
    return _check(kernel, name, plan_guarded(hidden, seed), seed, "guarded kernel", kernels.one_writer_advice,
                  verbose)


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
    return _check(kernel, name, plan_grid_stride(hidden, seed), seed, "grid-stride loop", _stride_advice, verbose)


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

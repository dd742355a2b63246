"""Building a check's launches so that the usual bugs cannot pass: values, sizes, blocks.

Pure NumPy, below the checks: `with_extremes` puts ±100, ±inf, denormals and signed zeros into
an input (a sigmoid written exp(x) / (1 + exp(x)) gives NaN at 100); `tail_launch` makes a
launch past 65,536 elements cheap on the CPU by running only its last blocks, and says which
elements those blocks own (`owned`), the only ones a check then compares; `BLOCKS_2D` are the
non-square blocks the 2-D checks draw from, wide and tall, since a row computed with
blockDim.x fails only where blockDim.x != blockDim.y.

Known limitations: `owned` assumes the intended mapping (1-D: i = blockIdx.x * blockDim.x +
threadIdx.x; 2-D: x along columns, y along rows), so tail launches suit elementwise kernels.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .launch import dim3

EXTREMES = np.array([100.0, -100.0, np.inf, -np.inf, 1e-40, -1e-40, 0.0, -0.0, 88.8, -88.8], np.float32)
WIDE_BLOCKS = ((16, 8), (32, 4), (32, 8), (16, 4))     # blockDim.x > blockDim.y
TALL_BLOCKS = ((8, 32), (4, 32), (8, 16), (4, 16))     # blockDim.x < blockDim.y
BLOCKS_2D = WIDE_BLOCKS + TALL_BLOCKS
WIDE_INDEX = 65_536        # the first element a 16-bit unsigned index cannot reach (a signed one: 32,768)


def with_extremes(x: np.ndarray, rng: np.random.Generator, values: Sequence[float] = EXTREMES) -> np.ndarray:
    """x with the extreme values at distinct random positions (as many as fit), in place."""
    flat = x.reshape(-1)
    k = min(len(values), flat.size)
    if k:
        flat[rng.choice(flat.size, size=k, replace=False)] = np.asarray(values[:k], flat.dtype)
    return x


def off_multiple(rng: np.random.Generator, lo: int, hi: int, step: int) -> int:
    """A random integer in [lo, hi] that is not a multiple of `step` (lo when none is)."""
    for _ in range(100):
        v = int(rng.integers(lo, hi + 1))
        if step <= 1 or v % step:
            return v
    return lo


def tail(grid, keep: int = 2) -> range:
    """The last `keep` blocks of a grid (linear indices, x fastest)."""
    total = int(np.prod(dim3(grid)))
    return range(max(0, total - keep), total)


def owned(shape, grid, block, blocks: range | None) -> np.ndarray:
    """Boolean mask of the elements of an output of `shape` that the threads of `blocks` own
    (1-D: i = b * blockDim.x + t; 2-D: row from y, column from x; 3-D: the matrix of a batch
    from z besides); all True when blocks is None."""
    if blocks is None:
        return np.ones(shape, bool)
    g, b = dim3(grid), dim3(block)
    mask = np.zeros(shape, bool)
    for lin in blocks:
        bx, by, bz = lin % g[0], (lin // g[0]) % g[1], lin // (g[0] * g[1])
        if len(shape) == 1:
            mask[bx * b[0]:(bx + 1) * b[0]] = True
        elif len(shape) == 2:
            mask[by * b[1]:(by + 1) * b[1], bx * b[0]:(bx + 1) * b[0]] = True
        else:
            mask[bz * b[2]:(bz + 1) * b[2], by * b[1]:(by + 1) * b[1], bx * b[0]:(bx + 1) * b[0]] = True
    return mask


def large_size(rng: np.random.Generator, tpb: int) -> int:
    """A size past 65,536 that is not a multiple of the block: a 16-bit index fails on it."""
    return WIDE_INDEX + off_multiple(rng, 1, 3 * tpb, tpb)


def large_shape(rng: np.random.Generator, block) -> tuple[int, int]:
    """(rows, cols) past 65,536 elements, neither a multiple of the block, whose last block
    row starts past 65,536 elements (so its elements are the ones a 16-bit index misses)."""
    bx, by = dim3(block)[:2]
    cols = off_multiple(rng, 200, 300, bx)
    rows = off_multiple(rng, math.ceil(WIDE_INDEX / cols) + by + 1, math.ceil(WIDE_INDEX / cols) + 3 * by, by)
    return rows, cols


def grid_1d(n: int, tpb: int) -> int:
    return math.ceil(n / tpb)


def grid_2d(shape, block) -> tuple[int, int]:
    bx, by = dim3(block)[:2]
    return math.ceil(shape[1] / bx), math.ceil(shape[0] / by)


def plan_1d(rng: np.random.Generator, choices=(32, 64, 96, 128, 256), max_n: int = 900,
            large: bool = True) -> list[tuple[int, int]]:
    """(n, threads per block) launches of a 1-D elementwise check, drawn so that every known bug
    fails: two different block sizes (a hard-coded blockDim matches one at most), for each one a
    size below a block, an exact multiple and one past it (a missing guard, a block-local index),
    a random one; and a size past 65,536 (a 16-bit index)."""
    t1, t2 = (int(t) for t in rng.choice(choices, size=2, replace=False))
    plan = []
    for t in (t1, t2):
        k = int(rng.integers(1, 4))
        plan += [(int(rng.integers(1, t)) if t > 1 else 1, t), (k * t, t), (k * t + 1, t),
                 (off_multiple(rng, 2, max_n, t), t)]
    if large:
        plan.append((large_size(rng, t1), t1))
    return plan


def plan_2d(rng: np.random.Generator, limit: int, large: bool = True) -> list[tuple[tuple[int, int], tuple]]:
    """((rows, cols), block) launches of a 2-D elementwise check, every known bug failing on each
    draw: a wide block on a matrix with more rows than the block (a row computed with
    blockDim.x leaves rows unwritten), a tall block on one with more columns (a column computed
    with blockDim.y), a tall matrix narrower than a wide block (rows and columns swapped), a
    square one; no side a multiple of its block's (a missing or flattened guard), and a matrix
    past 65,536 elements (a 16-bit index). `limit`: the largest side (small for the simulator)."""
    def pick(blocks, fits):
        ok = [b for b in blocks if fits(b)]
        return tuple(int(v) for v in ok[int(rng.integers(len(ok)))])

    wide = pick(WIDE_BLOCKS, lambda b: b[1] + 1 < limit)
    tall = pick(TALL_BLOCKS, lambda b: b[0] + 1 < limit)
    swap = pick(WIDE_BLOCKS, lambda b: b[0] + 1 < limit and b[0] > 2)
    side = off_multiple(rng, 3, limit, 4)
    plan = [
        ((side, side), pick(BLOCKS_2D, lambda b: side % b[0] and side % b[1])),
        ((off_multiple(rng, wide[1] + 1, limit, wide[1]), off_multiple(rng, 2, limit, wide[0])), wide),
        ((off_multiple(rng, 2, limit, tall[1]), off_multiple(rng, tall[0] + 1, limit, tall[0])), tall),
        ((off_multiple(rng, swap[0] + 1, limit, swap[1]), int(rng.integers(1, swap[0]))), swap),
    ]
    if large:
        block = tuple(int(v) for v in WIDE_BLOCKS[int(rng.integers(len(WIDE_BLOCKS)))])
        plan.append((large_shape(rng, block), block))
    return plan

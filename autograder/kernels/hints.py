"""What the pattern of a wrong result or a race says about its cause, for the checks' messages.

A hint is given only when the evidence points there: the elements a kernel wrote (outputs start
as NaN) are compared with the elements a kernel with a known bug would write on the same
launch (rows and columns swapped, a row computed with blockDim.x, a column with blockDim.y, no
blockIdx, a 16-bit index), and the hint names the bug whose pattern matches exactly. For races
and out-of-bounds accesses in elementwise kernels, `one_writer_advice` looks at the two threads
involved: one past the matrix's last column writing the next row's element is a guard on the
flattened index; two threads inside it are an index (or a loop's step) that maps two threads to
one element. Nothing here runs a kernel.

Known limitations: the patterns assume outputs initialised to NaN and the course's mappings
(1-D: i = blockIdx.x * blockDim.x + threadIdx.x; 2-D: x along columns, y along rows).
"""
from __future__ import annotations

import numpy as np

from .cases import WIDE_INDEX
from .launch import dim3


def _flat(idx, shape) -> int:
    return int(np.ravel_multi_index(tuple(int(i) for i in idx), shape))


def index_width_hint(case, idx, got) -> str:
    """Every compared element before 32,768 or 65,536 right, and that one never written."""
    first = _flat(idx, got.shape)
    for limit, kind in ((WIDE_INDEX, "an unsigned short"), (WIDE_INDEX // 2, "a short")):
        if first >= limit and np.isnan(got.reshape(-1)[first]):
            return (f"Element {first:,} is past {limit:,}, and no thread wrote it: is the index held in a 16-bit "
                    f"type ({kind})? Compute it in an int")
    return ""


def vector_hint(case, idx, got) -> str:
    """For a 1-D kernel: the first block right and the next wrong is a block-local index."""
    width = index_width_hint(case, idx, got)
    if width:
        return width
    first = _flat(idx, got.shape)
    tpb = case.launch.block3[0]
    if first == tpb and case.launch.grid3[0] > 1 and case.launch.blocks is None:
        return (f"The first {tpb} elements (one block) are right: does every block work on its own "
                f"part? The global index is blockIdx.x * blockDim.x + threadIdx.x")
    if first > 0 and case.launch.blocks is None:
        return f"Elements 0..{first - 1} are right"
    return ""


def _patterns(shape, grid, block) -> dict[str, np.ndarray]:
    """The elements of a rows x cols output that kernels with known bugs write (guards intact)."""
    rows, cols = shape
    (gx, gy, _), (bx, by, _) = dim3(grid), dim3(block)
    r, c = np.arange(rows)[:, None], np.arange(cols)[None, :]

    def taken(idx, n_blocks, step, width):  # indices b * step + t for b < n_blocks, t < width
        return (idx % step < width) & (idx // step < n_blocks) if step >= width else idx < (n_blocks - 1) * step + width
    return {
        "swapped": (r < gx * bx) & (c < gy * by),
        "row_bdx": np.broadcast_to(taken(r, gy, bx, by), shape),
        "col_bdy": np.broadcast_to(taken(c, gx, by, bx), shape),
        "no_block": (r < by) & (c < bx),
    }


def matrix_hint(case, idx, got) -> str:
    """For a 2-D kernel: name the bug whose pattern of written elements matches exactly."""
    width = index_width_hint(case, idx, got)
    if width or case.launch.blocks is not None or got.ndim != 2:
        return width
    wrote = ~np.isnan(got)
    want = next((np.asarray(w) for w in case.expected.values() if np.shape(w) == got.shape), None)
    known = ~np.isnan(want) if want is not None else np.ones(got.shape, bool)   # inf + -inf is nan: no evidence
    if wrote[known].all():
        return ""
    (bx, by, _) = case.launch.block3
    found = [k for k, m in _patterns(got.shape, case.launch.grid, case.launch.block).items()
             if np.array_equal(m[known], wrote[known]) and not m.all()]
    if "swapped" in found:
        return ("The elements written are exactly those a kernel with rows and columns swapped writes on this "
                "launch: x (threadIdx.x, blockIdx.x) should walk along the columns, y along the rows")
    if "row_bdx" in found:
        return (f"Only rows whose index within a band of {bx} is below {by} are written, as when the row is "
                f"computed with blockDim.x ({bx}): row = blockIdx.y * blockDim.y + threadIdx.y")
    if "col_bdy" in found:
        return (f"Only columns whose index within a band of {by} is below {bx} are written, as when the column is "
                f"computed with blockDim.y ({by}): col = blockIdx.x * blockDim.x + threadIdx.x")
    if "no_block" in found:
        return ("Only the elements of block (0, 0) are written: the index must include blockIdx "
                "(row = blockIdx.y * blockDim.y + threadIdx.y, col = blockIdx.x * blockDim.x + threadIdx.x)")
    return ""


def _coord(v) -> tuple[int, int, int]:
    """A block or thread index as (x, y, z): missing components are 0 (dim3 fills extents with 1)."""
    t = tuple(int(x) for x in (v if isinstance(v, (tuple, list)) else (v,)))
    return t + (0,) * (3 - len(t))


def _mappings(launch):
    """(row, col) a thread computes under the intended 2-D mapping and under known wrong ones."""
    (bdx, bdy, _) = launch.block3
    return {
        "right": lambda b, t: (b[1] * bdy + t[1], b[0] * bdx + t[0]),
        "row_bdx": lambda b, t: (b[1] * bdx + t[1], b[0] * bdx + t[0]),
        "col_bdy": lambda b, t: (b[1] * bdy + t[1], b[0] * bdy + t[0]),
        "swapped": lambda b, t: (b[0] * bdx + t[0], b[1] * bdy + t[1]),
    }


ADVICE_2D = {
    "row_bdx": "Both threads compute this element when the row is computed with blockDim.x: row = blockIdx.y * "
               "blockDim.y + threadIdx.y (the block here is {bx} x {by}, so blockDim.x is not blockDim.y)",
    "col_bdy": "Both threads compute this element when the column is computed with blockDim.y: col = blockIdx.x * "
               "blockDim.x + threadIdx.x (the block here is {bx} x {by})",
    "swapped": "Both threads compute this element when rows and columns are swapped: x (threadIdx.x, blockIdx.x) "
               "should walk along the columns, y along the rows",
}


def _element_of(info, shape):
    idx = info.get("index")
    if idx is None:
        return None
    if isinstance(idx, (tuple, list)) and len(idx) == len(shape):
        return tuple(int(i) for i in idx)
    flat = int(idx[0] if isinstance(idx, (tuple, list)) else idx)
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if 0 <= flat < int(np.prod(shape)) else None


def one_writer_advice(case, err) -> str | None:
    """Advice for a race or an out-of-bounds access in a kernel where each element has one owner:
    which mapping of threads to elements makes the two threads involved meet on this element."""
    info = err.info or {}
    if info.get("shared"):
        return None
    out = [a for i, a in enumerate(case.launch.args) if i in case.expected and isinstance(a, np.ndarray)]
    shape = out[0].shape if out else ()
    threads = [(_coord(b), _coord(t)) for b, t in info.get("threads") or []]
    if len(threads) == 2 and threads[0][1] == threads[1][1] and threads[0][0] != threads[1][0]:
        t = threads[0][1]
        shown = str(t[0]) if len(shape) < 2 else f"({t[0]}, {t[1]})"
        return (f"Thread {shown} of two blocks reached the same element: every block works on the same "
                f"elements. The global index must include the block: blockIdx.x * blockDim.x + threadIdx.x"
                + (" for the column, blockIdx.y * blockDim.y + threadIdx.y for the row" if len(shape) == 2 else ""))
    if len(shape) == 2 and threads:
        rows, cols = shape
        maps, elem = _mappings(case.launch), _element_of(info, shape)
        if elem is not None and len(threads) == 2:
            for key, text in ADVICE_2D.items():
                if all(maps[key](b, t) == elem for b, t in threads) and \
                        not all(maps["right"](b, t) == elem for b, t in threads):
                    return text.format(bx=case.launch.block3[0], by=case.launch.block3[1])
        for block, thread in threads:
            r, c = maps["right"](block, thread)
            if (c >= cols or r >= rows) and (elem is None or r * cols + c == elem[0] * cols + elem[1]):
                return (f"The thread of block {tuple(block[:2])}, thread {tuple(thread[:2])} owns element ({r}, {c}), "
                        f"outside the {rows} x {cols} matrix, and still wrote: the guard must test row < rows and "
                        f"col < cols, each against its own bound (a guard on the flattened index row * cols + col < "
                        f"rows * cols lets a thread past the last column through, onto the next row's element)")
    if info.get("kind") == "oob":
        return None
    if len(shape) == 2:
        return ("Each element should be written by one thread, and two threads reached this one: check how row "
                "and col are computed (row = blockIdx.y * blockDim.y + threadIdx.y, col = blockIdx.x * blockDim.x "
                "+ threadIdx.x)")
    return ("Each element should be handled by one thread, and two threads reached this one: check the index "
            "(blockIdx.x * blockDim.x + threadIdx.x) and, in a loop, its step (the whole grid: "
            "blockDim.x * gridDim.x, cuda.gridsize(1) in Numba)")

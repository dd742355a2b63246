"""What a check's runner would say of a wrong kernel's model on a draw's cases, without running it.

A bug's model (tests/scenarios/kernels/bug_classes.py) says where each thread of a launch writes
(vectorized over the threads of the blocks the CPU runs), or what the kernel computes instead.
`verdict` applies what the runners detect to that: an access outside the array (per axis in the
Numba simulator, on the flat array under AddressSanitizer), two threads writing one element (both
runners, `single_writer`), a loop that never ends (the scaled time limit), and then the values
against the case's expected arrays, as `checks.compare_case` compares them.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from autograder import ch02_first_kernels as ch02, ch03_thread_hierarchy as ch03, ch04_2d_grids as ch04
from autograder import ch05_matmul_layer as ch05
from autograder import kernels

C_MARK = "__global__ /* CUDA C */"       # is_cuda_c: a case builder's language
TOLERANCE = {"check_naive": (1e-3, 1e-3), "check_tiled_c": (1e-3, 1e-3), "check_tiled_numba": (1e-3, 1e-3),
             "check_sigmoid": (1e-5, 1e-6)}


@functools.lru_cache(maxsize=64)
def cases(check: str, lang: str, hidden: bool, seed: int | None):
    """The cases `check` runs for a kernel in `lang` ("numba" or "c") on the draw `seed` (the
    verdicts only read them, so one draw serves every bug of a check)."""
    c = lang == "c"
    mark = C_MARK if c else (lambda: None)
    rng = np.random.default_rng(seed)
    name = check.split(".")[-1]
    if name == "check_adjacent_diff":
        return ch02._diff_cases(mark, ch02.plan_adjacent_diff(hidden, seed), rng)
    if name == "check_shift":
        return ch02._shift_cases(mark, ch02.plan_shift(hidden, seed), rng)
    if name == "check_guarded":
        return ch03._inplace_cases(mark, ch03.plan_guarded(hidden, seed), rng)
    if name == "check_grid_stride":
        return ch03._inplace_cases(mark, ch03.plan_grid_stride(hidden, seed), rng)
    if name == "check_matrix_add":
        args = ("A", "B", "out", "rows", "cols") if c else ("A", "B", "out")
        return kernels.matrix_cases(ch04.plan_matrix(hidden, seed, c), args, rng)
    if name == "check_sigmoid":
        return ch04._sigmoid_cases(mark, ch04.plan_matrix(hidden, seed, c), rng)
    mm_args = ("A", "B", "C", "M", "K", "N") if c else ("A", "B", "C")
    if name == "check_naive":
        plan = ch05.plan_naive(hidden, seed, c)
        return kernels.matmul_cases([s for s, _ in plan], [b for _, b in plan], mm_args, rng)
    if name in ("check_tiled_c", "check_tiled_numba"):
        return kernels.matmul_cases(ch05.plan_tiled(hidden, seed, c), (16, 16), mm_args, rng)
    if name == "check_layer":
        return ch05._bias_sigmoid_cases(ch05.plan_layer(hidden, seed)[0], rng)
    raise KeyError(check)


def _threads(case) -> SimpleNamespace:
    """Coordinates of every thread of the blocks the CPU runs, as flat arrays."""
    L = case.launch
    (gx, gy, _), (bx_, by_, _) = L.grid3, L.block3
    lin = np.array(list(L.blocks if L.blocks is not None else range(gx * gy)))
    tid = np.arange(bx_ * by_)
    out = np.asarray(next(iter(case.expected.values())))
    t = SimpleNamespace(bx=np.repeat(lin % gx, len(tid)), by=np.repeat(lin // gx % gy, len(tid)),
                        tx=np.tile(tid % bx_, len(lin)), ty=np.tile(tid // bx_, len(lin)),
                        BX=bx_, BY=by_, GX=gx, GY=gy, n=out.size)
    t.gid = (lin[:, None] * len(tid) + tid[None, :]).reshape(-1)
    if out.ndim == 2:
        t.R, t.C = out.shape
    return t


def verdict(bug, case, lang: str, check: str) -> str | None:
    """Why the check would reject the bug's kernel on this case ("oob", "double", "hang",
    "wrong"), or None if it would pass it."""
    out_i = next(iter(case.expected))
    want = np.asarray(case.expected[out_i])
    start = getattr(case, "original", None)
    got = (np.array(start, dtype=want.dtype) if start is not None else np.full(want.shape, np.nan, want.dtype))
    if bug.values is not None:
        made = bug.values(case, lang)
        if isinstance(made, str):
            return made
        got = np.asarray(made, want.dtype).reshape(want.shape)
    else:
        t = _threads(case)
        made = bug.map(t)
        if isinstance(made, str):
            return made
        idx, guard = made
        if isinstance(idx, tuple):                        # (row, col) of a 2-D output
            r, col = np.broadcast_arrays(*idx)
            active = np.broadcast_to(guard, r.shape)
            rows, cols = want.shape
            if lang == "numba" and (active & ((r < 0) | (r >= rows) | (col < 0) | (col >= cols))).any():
                return "oob"
            flat = r * cols + col
        else:
            flat = np.asarray(idx)
            active = np.broadcast_to(guard, flat.shape)
        if (active & ((flat < 0) | (flat >= want.size))).any():
            return "oob"
        owner = np.broadcast_to(t.gid.reshape(t.gid.shape + (1,) * (flat.ndim - 1)), flat.shape)
        hit = flat[active].astype(np.int64)
        pairs = np.unique(hit * (int(t.gid.max()) + 1) + owner[active])      # one per (element, thread)
        elements = pairs // (int(t.gid.max()) + 1)
        if (elements[1:] == elements[:-1]).any():                            # an element of two threads
            return "double"
        got.reshape(-1)[hit] = want.reshape(-1)[hit]
    mask = case.compared.get(out_i)
    seen = got if mask is None else np.where(mask, got, want)
    rtol, atol = TOLERANCE.get(check.split(".")[-1], (1e-4, 1e-5))
    return "wrong" if kernels.first_mismatch(want, seen, rtol, atol) is not None else None


def rejected(bug, lang: str, hidden: bool, seed: int | None) -> str | None:
    """The first reason a draw's cases reject the bug, or None when the whole draw passes it."""
    check = bug.numba_check if lang == "numba" and bug.numba_check else bug.check
    for case in cases(check, lang, hidden, seed):
        why = verdict(bug, case, lang, check)
        if why:
            return why
    return None

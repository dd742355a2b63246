"""Arrays that watch a simulated kernel: bounds, global-memory counts, races (child side).

In the Numba simulator every CUDA thread is a Python thread, so a kernel's array arguments and
shared arrays can be wrapped: `Checked` stops an index outside the array (a negative one too,
which NumPy would wrap around) with the array's name, the index, the thread and the line;
counts every global element read and write per thread (for read budgets); and records who
wrote and read each element in which barrier interval, so that a read of another thread's
unordered write (or, in shared memory, a write over another thread's read) is a race.
`Tracker` holds one launch's counts and the first failure.

Two threads writing one element are a race too (as ThreadSanitizer reports them for CUDA C):
in the same block and barrier interval always, in another block when the check says each
element has one writer (`single_writer`, an elementwise kernel: on a GPU the blocks run in
any order, so the element's final value depends on it).

Known limitations: races through global memory are seen between a write and a later read by
another block or in the same interval, not read-then-write; an element read by more than 64
threads keeps only 64 readers; warp-level operations do not exist in the simulator.
"""
from __future__ import annotations

import sys
import threading

import numpy as np

from .launch import AccessCount


class _OutOfBounds(IndexError):
    """An index outside the array: ends the simulated thread (the Tracker keeps the details)."""


class _Race(RuntimeError):
    """A race seen on an element: ends the simulated thread (the Tracker keeps the details)."""


class Tracker:
    """Counts and race records of one launch. Every simulated thread is a Python thread."""

    def __init__(self, sources: dict[str, list[str]], single_writer: bool = False):
        self.single_writer = single_writer
        self.lock = threading.Lock()
        self.threads: list = []
        self.error: dict | None = None
        self.sources = sources
        self.atomic = threading.local()

    def counts(self, th) -> dict:
        c = getattr(th, "_ag_counts", None)
        if c is None:
            c = th._ag_counts = {}
            self.threads.append(th)
        return c

    def fail(self, info: dict, exc: type) -> None:
        with self.lock:
            if self.error is None:
                self.error = info
        raise exc(info.get("message", ""))

    def summary(self) -> AccessCount:
        acc = AccessCount(threads=len(self.threads))
        for th in self.threads:
            r = w = 0
            for name, (nr, nw) in th._ag_counts.items():
                if nr:
                    acc.reads[name] = acc.reads.get(name, 0) + nr
                if nw:
                    acc.writes[name] = acc.writes.get(name, 0) + nw
                r += nr
                w += nw
            acc.max_reads_per_thread = max(acc.max_reads_per_thread, r)
            acc.max_writes_per_thread = max(acc.max_writes_per_thread, w)
            acc.barriers = max(acc.barriers, getattr(th, "_ag_epoch", 0))
        return acc


def _caller_line() -> tuple[str, int]:
    """File and line of the nearest frame in the student's code (labelled "<...>")."""
    f = sys._getframe(1)
    while f is not None and not f.f_code.co_filename.startswith("<"):
        f = f.f_back
    return (f.f_code.co_filename, f.f_lineno) if f is not None else ("?", 0)


def _thread_ids(th) -> tuple[tuple, tuple, int]:
    ids = getattr(th, "_ag_ids", None)
    if ids is None:
        ids = th._ag_ids = (tuple(th.blockIdx), tuple(th.threadIdx))
    return ids[0], ids[1], getattr(th, "_ag_epoch", 0)


def _kernel_lineno() -> int:
    """The line of the student's code that made this access (two frames up, usually)."""
    f = sys._getframe(3)
    if f.f_code.co_filename.startswith("<"):
        return f.f_lineno
    return _caller_line()[1]


class Checked:
    """An array seen by the kernel: bounds checked, accesses counted (global) and checked for races."""

    __slots__ = ("_a", "_name", "_t", "_root", "_shared", "_state", "_off", "_strides", "shape", "size", "ndim",
                 "dtype")

    def __init__(self, a: np.ndarray, name: str, tracker: Tracker, shared: bool, root=None, state=None):
        self._a = a
        self._name = name
        self._t = tracker
        self._shared = shared
        self._root = a if root is None else root
        self._state = {} if state is None else state
        self._off = ((a.__array_interface__["data"][0] - self._root.__array_interface__["data"][0])
                     // a.itemsize if root is not None else 0)
        self._strides = tuple(st // a.itemsize for st in a.strides)
        self.shape = a.shape
        self.size = a.size
        self.ndim = a.ndim
        self.dtype = a.dtype

    def __len__(self):
        return len(self._a)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._a, dtype=dtype)

    def _index(self, idx, kind):
        t = idx if type(idx) is tuple else (idx,)
        if len(t) > self.ndim:
            raise IndexError(f"too many indices for {self._name}: {len(t)} for {self.ndim} dimensions")
        ints = []
        shape = self.shape
        for axis, i in enumerate(t):
            if isinstance(i, slice) or i is Ellipsis or i is None:
                return None
            try:
                i = int(i)
            except TypeError:
                raise TypeError(f"{self._name} indexed with {type(i).__name__}; indices must be integers") from None
            if i < 0 or i >= shape[axis]:
                self._out_of_bounds(t, axis, i, kind)
            ints.append(i)
        return tuple(ints)

    def _out_of_bounds(self, t, axis, i, kind):
        b, tid, _ = _thread_ids(threading.current_thread())
        fn, line = _caller_line()
        where = "" if len(t) == 1 else f" along axis {axis}"
        self._t.fail({"kind": "oob", "array": self._name, "index": tuple(int(x) for x in t),
                      "shape": self.shape, "access": kind, "block": b, "thread": tid, "file": fn,
                      "line": line, "shared": self._shared,
                      "message": f"index {i} out of bounds{where} for {self._name} of shape {self.shape}"},
                     _OutOfBounds)

    def _element_key(self, ints) -> int:
        key = self._off
        for i, st in zip(ints, self._strides):
            key += i * st
        return key
    def _track(self, ints, write: bool):
        th = threading.current_thread()
        b, tid, epoch = _thread_ids(th)
        if not self._shared:
            c = self._t.counts(th)
            rw = c.get(self._name)
            if rw is None:
                rw = c[self._name] = [0, 0]
            rw[1 if write else 0] += 1
            if getattr(self._t.atomic, "on", False):
                return
        if len(ints) < self.ndim:
            return  # a row view: checked when its elements are touched
        key = self._element_key(ints)
        me = (b, tid)
        if not write and not self._shared and key not in self._state:
            return  # a global element nobody wrote: nothing to race with
        # No lock: accesses of one element in one barrier interval by two threads are a race
        # anyway, and intervals are ordered by the barrier's own lock.
        rec = self._state.get(key)
        if rec is None:
            rec = self._state[key] = [None, None, 0, {}]  # writer, (block, interval) of the write, line, readers
        w, wepoch, wline, readers = rec
        now = (b, epoch)
        # Read after another thread's write, unordered: same block and barrier interval, or
        # another block. A write over another thread's write: same block and interval, or
        # (single writer) another block. Shared memory also: write after another thread's read
        # in the same interval.
        conflict_w = (w is not None and w != me and
                      (wepoch == now or (not self._shared and w[0] != b and (not write or self._t.single_writer))))
        conflict_r = write and self._shared and any(r != me and e == now for r, (e, _) in readers.items())
        if conflict_w or conflict_r:
            if conflict_w:
                other, other_line = w, wline
            else:
                other, other_line = next((r, ln) for r, (e, ln) in readers.items() if r != me and e == now)
            fn, line = _caller_line()
            info = {"kind": "race", "array": self._name, "index": tuple(ints), "shared": self._shared,
                    "access": "write" if write else "read", "block": b, "thread": tid,
                    "other_block": other[0], "other_thread": other[1],
                    "other_did": "wrote" if conflict_w else "read", "other_line": other_line,
                    "file": fn, "line": line, "message": f"race on {self._name}{list(ints)}"}
            with self._t.lock:
                self._t.error = self._t.error or info
            raise _Race(info["message"])
        if write:
            rec[0], rec[1], rec[2] = me, now, _kernel_lineno()
            rec[3] = {}
        elif self._shared and (me in readers or len(readers) < 64) and readers.get(me, (None,))[0] != now:
            readers[me] = (now, _kernel_lineno())  # the first read of this interval, and its line

    def __getitem__(self, idx):
        ints = self._index(idx, "read")
        if ints is None or len(ints) < self.ndim:
            sub = self._a[idx]
            return Checked(sub, self._name, self._t, self._shared, self._root, self._state)
        self._track(ints, False)
        return self._a[ints]

    def __setitem__(self, idx, value):
        ints = self._index(idx, "write")
        if ints is None or len(ints) < self.ndim:
            self._a[idx] = np.asarray(value._a if isinstance(value, Checked) else value)
            return
        self._track(ints, True)
        self._a[ints] = value


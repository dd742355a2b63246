"""Patches to Numba's CUDA simulator, made in the simulator child only, before a kernel runs.

* The block of threads: a condition variable instead of the simulator's polling barrier, with
  the same semantics (a thread that returns leaves the barrier; an exception in one thread
  aborts the others and is re-raised), 2-4x faster, and counting barrier intervals per thread
  for the race check. Left alone if this Numba's simulator looks different.
* `cuda.shared.array` hands out `Checked` arrays named after the variable they are assigned
  to (`sA = cuda.shared.array(...)` is "sA"); float ones start as NaN, as unwritten memory.
* `cuda.atomic.*` marks its accesses, so that an atomic update is not taken for a race.
* Only the blocks a launch selects run (`SELECTED`, for launches past 65,536 threads).
"""
from __future__ import annotations

import re
import sys
import threading

import numpy as np

from .simulator import Checked

SELECTED: list = [None]     # the linear block indices the current launch runs (a range), or None: all


def _install_block_manager(simkernel) -> None:
    """The block of threads on a condition variable; barrier intervals counted in `_ag_epoch`."""
    BT, BM = simkernel.BlockThread, simkernel.BlockManager
    if not all(hasattr(BM, a) for a in ("run",)) or not hasattr(BT, "syncthreads"):
        return

    def syncthreads(self):
        mgr = self._manager
        with mgr._ag_cond:
            if mgr._ag_abort:
                raise RuntimeError("abort flag set on syncthreads call")
            gen = mgr._ag_gen
            mgr._ag_blocked += 1
            if mgr._ag_blocked >= mgr._ag_alive:
                mgr._ag_blocked = 0
                mgr._ag_gen += 1
                mgr._ag_cond.notify_all()
            else:
                while mgr._ag_gen == gen and not mgr._ag_abort:
                    mgr._ag_cond.wait()
            if mgr._ag_abort:
                raise RuntimeError("abort flag set on syncthreads clear")
        self._ag_epoch = getattr(self, "_ag_epoch", 0) + 1

    def run(self, grid_point, *args):
        chosen = SELECTED[0]
        if chosen is not None:
            gx, gy, _ = self._grid_dim
            if grid_point[0] + gx * (grid_point[1] + gy * grid_point[2]) not in chosen:
                return
        self._ag_cond = threading.Condition()
        self._ag_gen = self._ag_blocked = 0
        self._ag_abort = False
        self._ag_first = None
        points = list(np.ndindex(*self._block_dim))
        self._ag_alive = len(points)

        def target():
            try:
                self._f(*args)
            except BaseException:
                with self._ag_cond:
                    if not self._ag_abort:
                        self._ag_abort = True
                        self._ag_first = threading.current_thread()
                    self._ag_cond.notify_all()
                raise
            finally:
                with self._ag_cond:
                    self._ag_alive -= 1
                    if self._ag_alive > 0 and self._ag_blocked >= self._ag_alive:
                        self._ag_blocked = 0
                        self._ag_gen += 1
                        self._ag_cond.notify_all()

        threads = [BT(target, self, grid_point, p, self._debug) for p in points]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        first = self._ag_first
        for t in ([first] if first is not None else []) + threads:
            if t.exception:
                raise t.exception[0].with_traceback(t.exception[1])

    BT.syncthreads = syncthreads
    BM.run = run


def install(tracker_ref: list, sources: dict[str, list[str]]) -> None:
    """Simulator patches, in the child only: barrier epochs, checked shared arrays, atomic marks."""
    from numba.cuda.simulator import kernel as simkernel
    from numba.cuda.simulator import kernelapi
    from numba.core import types as nbtypes
    from numba.np import numpy_support

    _install_block_manager(simkernel)

    alloc_lock = threading.Lock()

    def shared_array(self, shape, dtype):
        if isinstance(dtype, nbtypes.Type):
            dtype = numpy_support.as_dtype(dtype)
        if shape == 0:
            count = self._dynshared_size // np.dtype(dtype).itemsize
            arr = np.frombuffer(self._dynshared.data, dtype=dtype, count=count)
            key = ("<dynamic>", 0)
        else:
            f = sys._getframe(1)
            key = (f.f_code.co_filename, f.f_lineno)
            arr = None
        with alloc_lock:
            res = self._allocations.get(key)
            if res is None:
                if arr is None:
                    arr = np.empty(shape, dtype)
                    if arr.dtype.kind == "f":
                        arr.fill(np.nan)
                lines = sources.get(key[0], [])
                text = lines[key[1] - 1] if 0 < key[1] <= len(lines) else ""
                m = re.search(r"(\w+)\s*=\s*[\w.]*shared\.array", text)
                name = m.group(1) if m else f"shared array (line {key[1]})"
                res = self._allocations[key] = Checked(arr, name, tracker_ref[0], shared=True)
            return res

    kernelapi.FakeCUDAShared.array = shared_array

    for meth in [m for m in vars(kernelapi.FakeCUDAAtomic) if not m.startswith("_")]:
        fn = getattr(kernelapi.FakeCUDAAtomic, meth)

        def wrapped(self, *a, _fn=fn, **k):
            t = tracker_ref[0]
            t.atomic.on = True
            try:
                return _fn(self, *a, **k)
            finally:
                t.atomic.on = False

        setattr(kernelapi.FakeCUDAAtomic, meth, wrapped)

"""The runner child: `python -m autograder.kernels.child JOBDIR`, and the simulator's job.

The parent (`numba_runner`) writes JOBDIR/job.pkl: {"mode": "simulate" or "compile", "source":
a Shipment, "launches": [(grid, block, shared bytes, args, blocks to run or None)], ...}; this
process runs it and
writes JOBDIR/result.pkl (renamed into place, so a result is whole or absent). What the kernel
prints goes to stdout; `@@LAUNCH k` lines on stderr say which launch it reached. Kept out of
the package's `__init__`, so that `-m` runs the only copy of it.
"""
from __future__ import annotations

import inspect
import linecache
import os
import pickle
import re
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from . import sim_patches
from .ptx import compile_job
from .simulator import Checked, Tracker
from .source import land_kernel

# Numba's warp-level operations: a GPU has them, the simulator does not.
WARP_OPERATIONS = {"shfl_sync", "shfl_up_sync", "shfl_down_sync", "shfl_xor_sync", "all_sync", "any_sync",
                   "eq_sync", "ballot_sync", "syncwarp", "activemask", "lanemask_lt", "match_any_sync",
                   "match_all_sync"}


def _error_from_exception(e: BaseException, tracker: Tracker, files: set) -> dict:
    """What stopped a launch: the Tracker's record, else the exception at the student's line."""
    info = dict(tracker.error) if tracker.error else {}
    if not info:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename in files]
        last = frames[-1] if frames else None
        msg = str(e)
        m = re.match(r"tid=\[([^\]]*)\] ctaid=\[([^\]]*)\]:?\s*(.*)", msg, re.S)
        thread = block = None
        if m:
            thread = tuple(int(x) for x in m.group(1).split(","))
            block = tuple(int(x) for x in m.group(2).split(","))
            msg = m.group(3)
        kind = "oob" if isinstance(e, IndexError) else "crash"
        missing = re.search(r"has no attribute '(\w+)'", msg) if isinstance(e, AttributeError) else None
        if missing and missing.group(1) in WARP_OPERATIONS:
            kind, msg = "unsupported", missing.group(1)
        info = {"kind": kind, "type": type(e).__name__, "message": msg, "thread": thread, "block": block,
                "file": last.filename if last else None, "line": last.lineno if last else None}
    return info


def simulate(job: dict) -> dict:
    """Run the job's launches of its shipped kernel in the simulator (NUMBA_ENABLE_CUDASIM=1 is
    in the environment), arrays checked; stop at the first launch that fails."""
    from numba import cuda
    shipment = job["source"]
    sources: dict[str, list[str]] = {}
    single = bool(job.get("single_writer"))
    tracker_ref = [Tracker(sources, single)]
    sim_patches.install(tracker_ref, sources)
    ns = land_kernel(shipment)
    for fn in shipment.files():
        sources[fn] = [l.rstrip("\n") for l in linecache.cache[fn][2]]
    kern = ns.get(shipment.name)
    if kern is None:
        return {"fatal": f"no function named {shipment.name!r} in the kernel's source"}
    if not hasattr(kern, "_device") and inspect.isfunction(kern):
        kern = cuda.jit(kern)
    params = list(inspect.signature(kern.py_func).parameters)
    results = []
    indices = job.get("indices") or list(range(len(job["launches"])))
    for k, (grid, block, smem, args, blocks) in zip(indices, job["launches"]):
        print(f"@@LAUNCH {k}", file=sys.stderr, flush=True)
        tracker = Tracker(sources, single)
        tracker_ref[0] = tracker
        sim_patches.SELECTED[0] = blocks
        wrapped = [Checked(a, params[i] if i < len(params) else f"argument {i}", tracker, shared=False)
                   if isinstance(a, np.ndarray) else a for i, a in enumerate(args)]
        t0 = time.time()
        try:
            kern[grid, block, 0, smem](*wrapped)
        except BaseException as e:  # the student's kernel may raise anything
            results.append({"error": _error_from_exception(e, tracker, set(sources))})
            break
        acc = tracker.summary()
        results.append({"outputs": [a if isinstance(a, np.ndarray) else None for a in args],
                        "accesses": acc if job.get("count") else None, "seconds": time.time() - t0})
    return {"launches": results, "sources": sources}


def main(jobdir: str) -> None:
    job = pickle.loads(Path(jobdir, "job.pkl").read_bytes())
    try:
        if job["mode"] == "simulate":
            result = simulate(job)
        else:
            result = compile_job(job)
    except BaseException as e:
        result = {"fatal": f"{type(e).__name__}: {e}"}
    tmp = Path(jobdir, "result.tmp")
    tmp.write_bytes(pickle.dumps(result))
    os.replace(tmp, Path(jobdir, "result.pkl"))


if __name__ == "__main__":
    main(sys.argv[1])

"""Run a Numba CUDA kernel with given grids and blocks on any machine (the parent side).

GPU: the kernel runs for real, in a child process (`gpu_run.numba_job`). CPU: the kernel's source is shipped
(`source.ship_kernel`) to children started with `python -m autograder.kernels.child`: up to
four simulator children side by side, launches split among them by thread count (each is one
Python process bound by its GIL), arrays checked there (`simulator`), and one child that
compiles it to PTX (`ptx`). Here their results become a `KernelRun`, or the first failing
launch's error, worded for the student with the line of the kernel it happened at.

Each simulator child has a time limit scaled to the machine (`procs.Limit`): past a floor of a
few seconds the runner times a kernel that does nothing on the same launches, and allows ten
times that. A launch may run only some of its blocks (`Launch.blocks`), so that a grid past
65,536 threads costs a few blocks' worth.

What the CPU path detects (each with the thread, the index and the kernel's line): an index
outside an array, per axis (so a flattened guard that lets a thread past the last column
through is caught, though a GPU would silently write the next row); a read of an element that
another thread wrote without a barrier between (in the block, or in another block); a write
over another thread's read of a shared element in the same barrier interval; two threads
writing one element (in the same block and interval always; across blocks with
`single_writer`, as the elementwise checks ask); what a GPU cannot compile (the PTX child);
a kernel that never ends (the scaled limit). What it does not: a read before another block's
write (blocks run in order), races through atomics' neighbours, anything timing-dependent on
a GPU, warp-level behaviour.

Known limitations: the simulator runs about 0.5 ms per CUDA thread, so keep CPU launches to a
few thousand threads; it has no warp-level operations (cuda.shfl_*_sync, ballot_sync,
syncwarp...): a kernel using them is checked on a GPU only, and the CPU says so.
"""
from __future__ import annotations

import os
import pickle
import re
import tempfile
import time
from pathlib import Path
from typing import Sequence

from .. import children
from . import procs
from .errors import KernelCrash, KernelTimeout, NotOnThisBackend, OutOfBoundsError, RaceError, source_line
from .gpu_run import in_child
from .launch import DEFAULT_CC, KernelRun, Launch, on_gpu, validated
from .ptx import compile_error
from .source import STUB_KERNEL, ship_kernel
from .toolchain import cuda_home_from_wheels

SIM_BACKEND = "Numba CUDA simulator (CPU)"
FLOOR_S = 5.0       # a child still running after this long makes the runner time a kernel doing nothing
FACTOR = 10.0       # ... and lets it go on to this many times that


def _spawn(job: dict, jobdir: Path, simulate: bool):
    jobdir.mkdir(parents=True, exist_ok=True)
    (jobdir / "job.pkl").write_bytes(pickle.dumps(job))
    env = dict(os.environ, NUMBA_DISABLE_PERFORMANCE_WARNINGS="1", PYTHONWARNINGS="ignore",
               NUMBA_ENABLE_CUDASIM="1" if simulate else "0")
    home = None if simulate else cuda_home_from_wheels()
    if home:
        env["CUDA_HOME"] = home
    readable = (env["CUDA_HOME"],) if env.get("CUDA_HOME") else ()
    return children.start_module("autograder.kernels.child", str(jobdir), env=env, writable=(str(jobdir),),
                              readable=readable)


def _result(jobdir: Path) -> dict | None:
    res = jobdir / "result.pkl"
    return pickle.loads(res.read_bytes()) if res.exists() else None


def _wait(proc, jobdir: Path, timeout: float) -> tuple[dict | None, str, str, bool]:
    out, err, timed_out = children.wait(proc, timeout)
    return _result(jobdir), out, err, timed_out


def _wait_scaled(proc, jobdir: Path, limit: procs.Limit, t0: float):
    out, err, timed_out, seconds = procs.wait_scaled(proc, limit, t0)
    return _result(jobdir), out, err, timed_out, seconds


def _fmt3(t) -> str:
    return "(" + ",".join(str(int(x)) for x in t) + ")" if t else "?"


def _where(info: dict, sources: dict) -> str:
    fn, line = info.get("file"), info.get("line")
    if not line:
        return ""
    label = (fn or "").strip("<>")
    of = f" of {label}" if label and label != "source" else ""   # "source": a kernel given as text
    return f" at line {line}{of}: `{source_line(sources.get(fn, []), line)}`"


SHARED_RACE_ADVICE = "Call cuda.syncthreads() after the tile is loaded and again before it is overwritten"
GLOBAL_RACE_ADVICE = "Each element should have one writer, or use cuda.atomic.add"


def _sim_error(info: dict, sources: dict, launch: Launch):
    """The simulator child's record of a failed launch, as the error the student sees."""
    who = ""
    if info.get("thread") is not None:
        who = f" by the thread blockIdx={_fmt3(info.get('block'))} threadIdx={_fmt3(info.get('thread'))}"
    where = _where(info, sources)
    label = launch.describe()
    if info.get("thread") is not None:
        info = dict(info, threads=[(info["block"], info["thread"])]
                    + ([(info["other_block"], info["other_thread"])] if info.get("other_thread") else []))
    if info["kind"] == "oob":
        if "array" in info:
            idx = info["index"]
            shown = f"{info['array']}[{', '.join(map(str, idx))}]"
            shape = info["shape"]
            size = f"{shape[0]} element{'s' if shape[0] != 1 else ''}" if len(shape) == 1 else f"shape {shape}"
            kind = "shared array" if info.get("shared") else "array"
            msg = (f"out-of-bounds {info['access']} of {shown} (the {kind} {info['array']} has {size}){who}{where}. "
                   f"Threads whose index falls outside the data must not touch memory: add a bounds guard such "
                   f"as `if i < n:`")
        else:
            msg = f"out-of-bounds index ({info.get('message')}){who}{where}. Check the bounds guard"
        return OutOfBoundsError(msg, backend=SIM_BACKEND, launch=label, info=info)
    if info["kind"] == "race":
        other = f"thread {_fmt3(info['other_thread'])}"
        if info["other_block"] != info["block"]:
            other += f" of block {_fmt3(info['other_block'])}"
        other_where = ""
        if info.get("other_line"):
            ol = info["other_line"]
            other_where = f" at line {ol}: `{source_line(sources.get(info['file'], []), ol)}`"
        verb = "writes" if info["access"] == "write" else "reads"
        info = dict(info, writes=[info["access"] == "write", info["other_did"] == "wrote"])
        if info.get("shared"):
            msg = (f"race on the shared array {info['array']}: thread {_fmt3(info['thread'])} of block "
                   f"{_fmt3(info['block'])} {verb} {info['array']}{list(info['index'])}{where}, which {other} "
                   f"{info['other_did']}{other_where}, with no cuda.syncthreads() between")
            return RaceError(msg, backend=SIM_BACKEND, launch=label, advice=SHARED_RACE_ADVICE, info=info)
        msg = (f"race on {info['array']}{list(info['index'])}: thread {_fmt3(info['thread'])} of block "
               f"{_fmt3(info['block'])} {verb} it{where}, which {other} {info['other_did']}{other_where}")
        return RaceError(msg, backend=SIM_BACKEND, launch=label, advice=GLOBAL_RACE_ADVICE, info=info)
    if info["kind"] == "unsupported":
        return NotOnThisBackend(
            f"cuda.{info['message']}{where} is a warp-level operation, and Numba's CUDA simulator has none "
            f"(no shuffles, votes or syncwarp), so this kernel cannot be checked on a CPU. Run the check on a "
            f"GPU, or write the reduction with a shared array and cuda.syncthreads()", backend=SIM_BACKEND,
            launch=label, info=info)
    advice = ""
    if info.get("type") == "OverflowError" and re.search(r"int(8|16)\b", str(info.get("message"))):
        advice = ("An index past 65,535 does not fit a 16-bit integer (a GPU would wrap it around silently and "
                  "write the wrong element): keep indices in the default integer type")
    return KernelCrash(f"the kernel raised {info.get('type', 'an error')}: {info.get('message')}{who}{where}",
                       backend=SIM_BACKEND, launch=label, info=info, advice=advice)


def _split(launches: list[Launch], workers: int) -> list[list[int]]:
    """Launch indices in up to `workers` groups of about equal thread counts (greedy, largest first)."""
    cost = [L.cpu_threads for L in launches]
    groups: list[list[int]] = [[] for _ in range(max(1, min(workers, len(launches))))]
    load = [0] * len(groups)
    for k in sorted(range(len(launches)), key=lambda i: -cost[i]):
        g = load.index(min(load))
        groups[g].append(k)
        load[g] += cost[k]
    return [sorted(g) for g in groups if g]


def simulator_workers() -> int:
    """Simulator processes run side by side: each is one Python process bound by its GIL."""
    env = os.environ.get("GPU_COURSE_SIM_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(4, os.cpu_count() or 1))


def _reference(packed: list, tmp: Path, ceiling: float):
    """A function timing a kernel that does nothing on the same launches in the simulator (the
    launches' own time, without the child's start-up)."""
    def seconds() -> float:
        d = tmp / "reference"
        p = _spawn({"mode": "simulate", "source": ship_kernel(STUB_KERNEL, "stub"), "launches": packed,
                    "indices": list(range(len(packed)))}, d, simulate=True)
        result, _, _, _ = _wait(p, d, ceiling)
        if not result or "launches" not in result:
            return ceiling
        return sum(r.get("seconds", 0.0) for r in result["launches"])
    return seconds


def _run_simulator(kernel, launches: list[Launch], name, count_accesses, timeout, compile_check, cc,
                   single_writer=False) -> KernelRun:
    src = ship_kernel(kernel, name)
    packed = [(L.grid3, L.block3, int(L.shared_mem), list(L.args), L.blocks) for L in launches]
    groups = _split(launches, simulator_workers())
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="numba_run_") as tmp:
        sims = [(g, Path(tmp) / f"sim{i}") for i, g in enumerate(groups)]
        children = [_spawn({"mode": "simulate", "source": src, "launches": [packed[k] for k in g], "indices": g,
                            "count": count_accesses, "single_writer": single_writer}, d, simulate=True)
                    for g, d in sims]
        comp = _spawn({"mode": "compile", "source": src, "launches": packed[:1], "cc": cc},
                      Path(tmp) / "ptx", simulate=False) if compile_check else None
        limit = procs.Limit(FLOOR_S, timeout, FACTOR, _reference(packed, Path(tmp), timeout))
        done = [_wait_scaled(p, d, limit, t0) for p, (_, d) in zip(children, sims)]
        cres = None
        if comp is not None:
            cres, _, cerr, ctimeout = _wait(comp, Path(tmp) / "ptx", max(120.0, timeout))
            if cres is None:
                cres = {"skipped": "the PTX compile did not finish" + (" in time" if ctimeout else
                                                                      f": {cerr.strip()[-300:]}")}
    if cres and "error" in cres:
        raise compile_error(cres["error"], cc)
    per_launch: dict[int, dict] = {}
    failures = []  # (launch index, exception)
    printed = ""
    for (g, _), (result, out, err, timed_out, seconds) in zip(sims, done):
        printed += out
        if timed_out:
            k = procs.launch_of(err, g[0])
            failures.append((k, KernelTimeout(
                f"the kernel ran past the time limit of {limit.describe(seconds)} in the simulator: an endless "
                f"loop, or a loop whose index never reaches its bound?",
                backend=SIM_BACKEND, launch=launches[k].describe())))
            continue
        if result is None:
            raise RuntimeError(f"the simulator subprocess failed:\n{err[-3000:]}")
        if "fatal" in result:
            raise KernelCrash(result["fatal"], backend=SIM_BACKEND)
        for k, r in zip(g, result["launches"]):
            if "error" in r:
                failures.append((k, _sim_error(r["error"], result["sources"], launches[k])))
                break
            per_launch[k] = r
    if printed.strip():
        print(printed[:5000], end="" if printed.endswith("\n") else "\n")
    if failures:
        raise min(failures, key=lambda f: f[0])[1]
    outputs = [per_launch[k]["outputs"] for k in range(len(launches))]
    accesses = [per_launch[k]["accesses"] for k in range(len(launches))]
    notes = []
    if cres is not None:
        notes.append("compiled to PTX for compute capability %d.%d" % tuple(cc) if cres.get("ok")
                     else cres.get("skipped", "PTX compile skipped"))
    return KernelRun(SIM_BACKEND, outputs, notes, accesses,
                     {"stdout": printed, "seconds": round(time.time() - t0, 2), "workers": len(groups)})


def run_numba(kernel, launches: Sequence[Launch], *, name: str | None = None, backend: str = "auto",
              count_accesses: bool = False, timeout: float = 60.0, compile_check: bool = True,
              cc: tuple[int, int] = DEFAULT_CC, single_writer: bool = False) -> KernelRun:
    """Run `launches` of a Numba CUDA kernel; see the module docstring.

    backend: "auto" (GPU if there is one), "gpu", or "cpu"/"simulator". Access counts (and so
    read budgets) come from the simulator only: with count_accesses=True "auto" is the CPU path.
    single_writer: two threads writing one element of an array fail the run (across blocks too).
    The arrays in `launches` are not modified; the results are in `KernelRun.outputs`.
    """
    gpu = on_gpu(backend) and (backend == "gpu" or not count_accesses)
    launches = validated(launches, "GPU, Numba CUDA" if gpu else SIM_BACKEND)
    if gpu:
        got = in_child("autograder.kernels.gpu_run:numba_job", ship_kernel(kernel, name), launches, name, timeout,
                       timeout=timeout, backend="GPU, Numba CUDA")
        return KernelRun(got["backend"], got["outputs"], [], [None] * len(launches), {})
    return _run_simulator(kernel, launches, name, count_accesses, timeout, compile_check, cc, single_writer)

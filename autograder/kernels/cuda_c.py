"""Run a CUDA C kernel given as source text and a name, the way `cupy.RawKernel(code, name)` takes it.

GPU: `cupy.RawKernel` for real, in a child process (`gpu_run.cupy_job`), array arguments
followed by a guard zone.
CPU (and, for races and bounds, on a GPU machine too):
  1. NVRTC compiles the source as CuPy would (`nvrtc.check_compiles`): compile errors with
     their lines, too much static shared memory, a kernel that is not `extern "C"`; each
     launch's scalars are checked against the declared parameters (`params`).
  2. The same source is built as a CPU program (`shim`) with -fsanitize=address, with
     -fsanitize=thread and, where asked, as a counter of global reads and writes; they build
     and run side by side, each with a time limit scaled to the machine (`procs.Limit`).
  3. AddressSanitizer's run gives the values and the out-of-bounds accesses, ThreadSanitizer's
     the data races within a block, the counter's the reads per array, the barriers and two
     threads writing one element across blocks (`sanitizers` words their reports).

Known limitations: NVRTC comes from the `nvidia-cuda-nvrtc-cu12` wheel (or a toolkit); without
it the CPU path still runs, and says it skipped step 1. ThreadSanitizer sees the threads of one
block only (blocks run one after another); see `shim` for what the CPU program does not model.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Sequence

from . import procs, sanitizers as sanitizer_reports, shim
from .errors import KernelCompileError, KernelCrash, KernelTimeout, OutOfBoundsError, RaceError
from .gpu_run import in_child
from .launch import DEFAULT_CC, KernelRun, Launch, on_gpu, validated
from .nvrtc import check_compiles
from .params import check_scalars
from .toolchain import cxx_compiler

FLOOR_S = 5.0         # a run still going after this long makes the runner time a kernel doing nothing
FACTOR = 10.0         # ... and lets it go on to this many times that
NAMES = {"address": "AddressSanitizer", "thread": "ThreadSanitizer", "count": "the read counter"}


def _reference(kind: str, launch_files: list[Path], tmp: Path, ceiling: float):
    """A function timing a kernel that does nothing on the same launches, in a `kind` binary."""
    def seconds() -> float:
        stub = shim.Build(shim.STUB_UNIT, kind).wait()
        files = []
        for j, f in enumerate(launch_files[::2]):
            files += [f, tmp / f"ref_{kind}_{j}.bin"]
        t0 = time.time()
        shim.finish_run(shim.start_run(stub, files), kind, ceiling, t0)
        return time.time() - t0
    return seconds


def _start(kind, binary, files, tmp, timeout, env):
    return shim.start_run(binary, files, env=env if kind == "count" else None), \
        procs.Limit(FLOOR_S, timeout, FACTOR, _reference(kind, files, tmp, timeout))


def _sanitized(source, name, launches, timeout, sanitizers, backend_label, count=False, single_writer=False):
    """CPU shim: run every launch in each build kind; (outputs, note, info, accesses)."""
    sig = shim.signature(launches[0].args)
    for L in launches[1:]:
        if shim.signature(L.args) != sig:
            raise TypeError("all launches of one run must have the same argument types")
    unit = shim.kernel_unit(source, name, sig)
    kinds = list(sanitizers) + (["count"] if count or single_writer else [])
    builds = {k: shim.Build(unit, k) for k in kinds}
    binaries, skipped = {}, []
    for k, b in builds.items():
        try:
            binaries[k] = b.wait()
        except shim.CxxError as e:
            if k == "count":
                skipped.append("global reads were not counted: the C++ compiler cannot build the counter")
                continue
            raise KernelCompileError("the CPU shim could not compile the kernel with the arguments given "
                                     "(NVRTC accepted it):\n" + shim.cxx_error_message(str(e), source),
                                     backend=backend_label) from None
    names = shim.param_names(source, name)
    env = {"CUDASHIM_SINGLE_WRITER": "1" if single_writer else "0"}
    with tempfile.TemporaryDirectory(prefix="shim_run_") as tmp:
        tmp = Path(tmp)
        files = {k: [] for k in binaries}
        for j, L in enumerate(launches):
            fin = tmp / f"in{j}.bin"
            shim.write_launch(fin, L, sig)
            for k in binaries:
                files[k] += [fin, tmp / f"out{j}_{k}.bin"]
        t0 = time.time()
        started = {k: _start(k, binaries[k], files[k], tmp, timeout, env) for k in binaries}
        runs = {k: shim.finish_run(p, k, limit, t0) for k, (p, limit) in started.items()}
        for k, r in list(runs.items()):  # TSan on kernels with high ASLR entropy: retry without ASLR
            if r.returncode not in (0, None) and "unexpected memory mapping" in r.stderr:
                again = shim.start_run(binaries[k], files[k], no_aslr=True)
                runs[k] = shim.finish_run(again, k, procs.Limit(FLOOR_S, timeout, FACTOR,
                                                                _reference(k, files[k], tmp, timeout)), time.time())
        order = [k for k in ("address", "thread", "count") if k in runs]
        _verdict(runs, order, source, launches, names, binaries, started)
        first = order[0]
        outputs = [shim.read_outputs(tmp / f"out{j}_{first}.bin", L) for j, L in enumerate(launches)]
        printed = runs[first].stdout
    accesses = sanitizer_reports.counts(runs["count"].stderr, launches, names) if "count" in runs else [None] * len(launches)
    used = [k for k in order if k != "count"]
    note = "checked under " + " and ".join(NAMES[k] for k in used)
    info = {"stdout": printed, "times": {k: round(r.elapsed, 2) for k, r in runs.items()}, "skipped": skipped}
    return outputs, note, info, accesses


def _verdict(runs, order, source, launches, names, binaries, started) -> None:
    """Raise the failure that explains most: out of bounds, a race, two writers, then the rest."""
    for kind in ("asan", "race", "double", "other"):
        for k in order:
            r = runs[k]
            j = procs.launch_of(r.stderr)
            label = launches[j].describe() if j < len(launches) else ""
            where = f"CPU shim, {NAMES[k][0].upper() + NAMES[k][1:]}"
            if kind == "asan" and k == "address" and "ERROR: AddressSanitizer" in r.stderr:
                msg = sanitizer_reports.asan_message(r, source, launches[j], names)
                cls = OutOfBoundsError if "out-of-bounds" in msg or "outside any array" in msg else KernelCrash
                raise cls(msg, backend=where, launch=label)
            if kind == "race" and k == "thread" and "WARNING: ThreadSanitizer: data race" in r.stderr:
                facts, advice, info = sanitizer_reports.tsan_message(r, source, launches[j], names)
                raise RaceError(facts, backend=where, launch=label, advice=advice, info=info)
            if kind == "double" and k == "count" and r.returncode == 67:
                found = sanitizer_reports.double_write_message(r, source, launches, names, binaries.get(k))
                if found:
                    facts, advice, info, j = found
                    raise RaceError(facts, backend="CPU shim, the write tracker", launch=launches[j].describe(),
                                    advice=advice, info=info)
            if kind != "other":
                continue
            if r.timed_out:
                limit = started[k][1]
                raise KernelTimeout(
                    f"the kernel ran past the time limit of {limit.describe(r.limit)}: an endless loop, or a "
                    f"loop whose index never reaches its bound?", backend=where, launch=label)
            if r.returncode != 0:
                tail = "\n".join(l for l in r.stderr.splitlines() if not l.startswith("@@"))[-1500:]
                raise KernelCrash(f"the kernel crashed (exit status {r.returncode}):\n{tail}",
                                  backend=where, launch=label)


def run_cuda_c(source: str, name: str, launches: Sequence[Launch], *, options: Sequence[str] = (),
               backend: str = "auto", timeout: float = 60.0,
               sanitizers: Sequence[str] = ("address", "thread"), count_accesses: bool = False,
               single_writer: bool = False) -> KernelRun:
    """Run `launches` of the CUDA C kernel `name` from `source`; see the module docstring.

    count_accesses: count global reads and writes per array and barriers (`KernelRun.accesses`);
    single_writer: fail when two threads write one element of an array (across blocks too).
    `timeout` is the ceiling of the scaled limit.
    """
    from ..device import detect
    gpu, no_cupy = on_gpu(backend), None
    if gpu:
        try:
            import cupy  # noqa: F401
        except ImportError:
            if backend == "gpu":
                raise
            gpu, no_cupy = False, "CuPy is not installed: the kernel ran on the CPU shim, not on the GPU"
    dev = detect() if gpu else None
    label = f"GPU ({dev.name}), cupy.RawKernel" if gpu else "CPU shim"
    launches = validated(launches, label)
    nv = check_compiles(source, name, options, cc=(dev.compute_capability or DEFAULT_CC) if gpu else DEFAULT_CC)
    for L in launches:
        check_scalars(source, name, L.args, nv.ptx, label=L.describe())
    notes = [nv.note()]
    info: dict = {"nvrtc": {"registers": nv.registers, "shared_bytes": nv.shared_bytes, "log": nv.log}}
    if gpu:
        # The sanitizers first, so that a race or a missing guard fails for that reason on a GPU
        # machine too, before the GPU shows only wrong values.
        accesses = [None] * len(launches)
        if sanitizers and cxx_compiler():
            _, note, sinfo, accesses = _sanitized(source, name, launches, timeout, sanitizers, "CPU shim",
                                                  count_accesses, single_writer)
            notes.append(f"also {note} on the CPU")
            info["shim"] = sinfo
        got = in_child("autograder.kernels.gpu_run:cupy_job", source, name, launches, list(options), timeout,
                       shim.param_names(source, name), timeout=timeout, backend=label)
        outputs = got["outputs"]
        info["gpu"] = {"num_regs": got["num_regs"]}
        return KernelRun(label, outputs, notes, accesses, info)
    if not sanitizers:
        raise ValueError("the CPU path needs at least one sanitizer ('address' gives the values)")
    outputs, note, sinfo, accesses = _sanitized(source, name, launches, timeout, list(sanitizers), label,
                                                count_accesses, single_writer)
    info["shim"] = sinfo
    notes += sinfo["skipped"]
    if no_cupy:
        notes.append(no_cupy)
    return KernelRun(f"{label} ({note[len('checked under '):]})", outputs, notes, accesses, info)

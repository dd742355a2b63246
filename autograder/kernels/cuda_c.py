"""Run a CUDA C kernel given as source text and a name, the way `cupy.RawKernel(code, name)` takes it.

GPU: `cupy.RawKernel` for real (`gpu_run.run_cupy`), array arguments followed by a guard zone.
CPU (and, for races and bounds, on a GPU machine too):
  1. NVRTC compiles the source as CuPy would (`nvrtc.check_compiles`): compile errors with
     their lines, too much static shared memory, a kernel that is not `extern "C"`.
  2. The same source is built as a CPU program (`shim`) twice, with -fsanitize=address and
     with -fsanitize=thread, and both run, side by side, each with a time limit.
  3. AddressSanitizer's run gives the values and the out-of-bounds accesses, ThreadSanitizer's
     the data races (`sanitizers` words their reports for the student).

Known limitations: NVRTC comes from the `nvidia-cuda-nvrtc-cu12` wheel (or a toolkit); without
it the CPU path still runs, and says it skipped step 1. See `shim` for what the CPU program
does not model (warps, textures, half precision).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Sequence

from . import procs, sanitizers as sanitizer_reports, shim
from .errors import KernelCompileError, KernelCrash, KernelTimeout, OutOfBoundsError, RaceError
from .gpu_run import run_cupy
from .launch import DEFAULT_CC, KernelRun, Launch, on_gpu, validated
from .nvrtc import check_compiles
from .toolchain import cxx_compiler


def _sanitized(source, name, launches, timeout, sanitizers, backend_label):
    """CPU shim: run every launch under each sanitizer; (outputs of the first sanitizer's run, note, info)."""
    sig = shim.signature(launches[0].args)
    for L in launches[1:]:
        if shim.signature(L.args) != sig:
            raise TypeError("all launches of one run must have the same argument types")
    code = shim.launcher_source(source, name, sig)
    builds = {s: shim.Build(code, s) for s in sanitizers}
    binaries = {}
    for s, b in builds.items():
        try:
            binaries[s] = b.wait()
        except shim.CxxError as e:
            raise KernelCompileError("the CPU shim could not compile the kernel with the arguments given "
                                     "(NVRTC accepted it):\n" + shim.cxx_error_message(str(e), source),
                                     backend=backend_label) from None
    names = shim.param_names(source, name)
    with tempfile.TemporaryDirectory(prefix="shim_run_") as tmp:
        files = []
        for k, L in enumerate(launches):
            fin, fout = Path(tmp) / f"in{k}.bin", Path(tmp) / f"out{k}.bin"
            shim.write_launch(fin, L, sig)
            files += [fin, fout]
        t0 = time.time()
        started = {s: shim.start_run(binaries[s], files) for s in sanitizers}
        limits = {s: timeout * (2 if s == "thread" else 1) for s in sanitizers}
        runs = {s: shim.finish_run(p, s, limits[s], t0) for s, p in started.items()}
        for s, r in list(runs.items()):  # TSan on kernels with high ASLR entropy: retry without ASLR
            if r.returncode not in (0, None) and "unexpected memory mapping" in r.stderr:
                again = shim.start_run(binaries[s], files, no_aslr=True)
                runs[s] = shim.finish_run(again, s, limits[s], time.time())
        order = [s for s in ("address", "thread") if s in runs]
        # verdicts in order of how much they explain: out of bounds, then a race, then the rest
        verdicts = [(s, kind) for kind in ("asan", "race", "other") for s in order]
        for s, kind in verdicts:
            r = runs[s]
            k = procs.launch_of(r.stderr)
            label = launches[k].describe() if k < len(launches) else ""
            where = f"CPU shim, {'AddressSanitizer' if s == 'address' else 'ThreadSanitizer'}"
            if kind == "asan" and s == "address" and "ERROR: AddressSanitizer" in r.stderr:
                msg = sanitizer_reports.asan_message(r, source, launches[k], names)
                cls = OutOfBoundsError if "out-of-bounds" in msg or "outside any array" in msg else KernelCrash
                raise cls(msg, backend=where, launch=label)
            if kind == "race" and s == "thread" and "WARNING: ThreadSanitizer: data race" in r.stderr:
                raise RaceError(sanitizer_reports.tsan_message(r, source, launches[k], names), backend=where,
                                launch=label)
            if kind != "other":
                continue
            if r.timed_out:
                raise KernelTimeout(
                    f"the kernel ran past the time limit of {limits[s]:.0f} s: an endless loop, or a loop "
                    f"whose index never reaches its bound?", backend=where, launch=label)
            if r.returncode != 0:
                tail = "\n".join(l for l in r.stderr.splitlines() if not l.startswith("@@"))[-1500:]
                raise KernelCrash(f"the kernel crashed (exit status {r.returncode}):\n{tail}",
                                  backend=where, launch=label)
        first = order[0]
        outputs = [shim.read_outputs(Path(tmp) / f"out{k}.bin", L) for k, L in enumerate(launches)]
        printed = runs[first].stdout
    names_used = " and ".join({"address": "AddressSanitizer", "thread": "ThreadSanitizer"}[s] for s in order)
    info = {"stdout": printed, "times": {s: round(r.elapsed, 2) for s, r in runs.items()}}
    return outputs, f"checked under {names_used}", info


def run_cuda_c(source: str, name: str, launches: Sequence[Launch], *, options: Sequence[str] = (),
               backend: str = "auto", timeout: float = 30.0,
               sanitizers: Sequence[str] = ("address", "thread")) -> KernelRun:
    """Run `launches` of the CUDA C kernel `name` from `source`; see the module docstring."""
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
    notes = [nv.note()]
    info: dict = {"nvrtc": {"registers": nv.registers, "shared_bytes": nv.shared_bytes, "log": nv.log}}
    if gpu:
        # The sanitizers first, so that a race or a missing guard fails for that reason on a GPU
        # machine too, before the GPU shows only wrong values.
        if sanitizers and cxx_compiler():
            _, note, sinfo = _sanitized(source, name, launches, timeout, sanitizers, "CPU shim")
            notes.append(f"also {note} on the CPU")
            info["shim"] = sinfo
        outputs, kern = run_cupy(source, name, launches, options, timeout, shim.param_names(source, name))
        info["gpu"] = {"num_regs": getattr(kern, "num_regs", None)}
        return KernelRun(label, outputs, notes, [None] * len(launches), info)
    if not sanitizers:
        raise ValueError("the CPU path needs at least one sanitizer ('address' gives the values)")
    outputs, note, sinfo = _sanitized(source, name, launches, timeout, list(sanitizers), label)
    info["shim"] = sinfo
    if no_cupy:
        notes.append(no_cupy)
    return KernelRun(f"{label} ({note[len('checked under '):]})", outputs, notes, [None] * len(launches), info)

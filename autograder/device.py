"""Which device this machine offers, chosen once, in one place.

Every page, exercise and check asks `detect()` instead of probing CUDA itself, so the
same code runs on a Colab GPU, an instructor's grading GPU and a CPU-only CI machine,
and always says which of them it is on.

Known limitations: only device 0 is looked at; a GPU that CUDA sees but that has no
working driver counts as absent (the probe catches every error on purpose).
"""
from __future__ import annotations

import functools
import itertools
import os
import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Device:
    cuda: bool                      # a usable CUDA GPU is present
    name: str                       # "NVIDIA H100 80GB HBM3" or the CPU's model name
    api: str                        # how we reach the GPU: "cupy", "torch", or "none"
    compute_capability: tuple[int, int] | None = None
    memory_bytes: int | None = None

    def describe(self, fallback: str = "") -> str:
        if self.cuda:
            cc = ".".join(map(str, self.compute_capability or ()))
            mem = f", {self.memory_bytes / 2**30:.0f} GiB" if self.memory_bytes else ""
            return f"GPU: {self.name} (compute capability {cc}{mem}), reached through {self.api}."
        text = f"No GPU found; running on the CPU ({self.name})."
        return f"{text} {fallback}".strip()


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine() or "unknown CPU"


def _probe_cupy() -> Device | None:
    import cupy  # noqa: F401  (ImportError: not installed)
    from cupy.cuda import runtime
    if runtime.getDeviceCount() < 1:
        return None
    props = runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return Device(True, name, "cupy", (props["major"], props["minor"]), props["totalGlobalMem"])


def _probe_torch() -> Device | None:
    import torch
    if not torch.cuda.is_available():
        return None
    p = torch.cuda.get_device_properties(0)
    return Device(True, p.name, "torch", (p.major, p.minor), p.total_memory)


@functools.lru_cache(maxsize=None)
def detect() -> Device:
    """The GPU if one works (through CuPy, else torch), else the CPU.

    COURSE_FORCE_CPU=1 pretends there is no GPU, to try the CPU fallbacks on a GPU machine.
    """
    if os.environ.get("COURSE_FORCE_CPU") != "1":
        for probe in (_probe_cupy, _probe_torch):
            try:
                found = probe()
            except Exception:  # not installed, no driver, driver too old: all mean "not this way"
                found = None
            if found is not None:
                return found
    return Device(False, cpu_name(), "none")


def _version(text: str) -> tuple[int, ...]:
    """(0, 30, 4) from "0.30.4" or "0.30.4rc1": the leading numbers only."""
    out = []
    for part in text.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def numba_cuda_mismatch(numba: str | None = None, numba_cuda: str | None = None) -> str | None:
    """What to do when the installed numba and numba-cuda cannot work together, or None.

    numba 0.66 moved NPDatetime; numba-cuda before 0.30.4 still looks for it, and its redirector
    takes over `numba.cuda`, so `from numba import cuda` raises AttributeError (the simulator
    too). Read from the installed versions, without importing either."""
    import importlib.metadata as md
    try:
        numba = numba or md.version("numba")
        numba_cuda = numba_cuda or md.version("numba-cuda")
    except md.PackageNotFoundError:
        return None         # numba alone, or neither: nothing redirects numba.cuda
    if _version(numba) < (0, 66) or _version(numba_cuda) >= (0, 30, 4):
        return None
    return (f"numba {numba} and numba-cuda {numba_cuda} do not work together: `from numba import "
            "cuda` fails with AttributeError (NPDatetime). Upgrade numba-cuda (Colab and other CUDA "
            "12 machines: pip install -q \"numba-cuda[cu12]>=0.30.4\"; CUDA 13: [cu13]) or keep it "
            "and pip install -q \"numba<0.66\", then restart the runtime and run this cell again.")


def report(fallback: str = "") -> Device:
    """Print which device the notebook is on, and which fallback it uses without a GPU; and
    what to do when numba and numba-cuda do not work together here."""
    dev = detect()
    # wrapped, so the line fits a book page and a Colab cell without scrolling sideways
    print(textwrap.fill(dev.describe(fallback), width=78, break_long_words=False))
    problem = numba_cuda_mismatch()
    if problem:
        print(textwrap.fill("Warning: " + problem, width=78, break_long_words=False))
    return dev


def gpu_threads() -> dict | None:
    """Multiprocessors, threads resident per multiprocessor and warp size of GPU 0, or None."""
    dev = detect()
    if not dev.cuda:
        return None
    if dev.api == "cupy":
        from cupy.cuda import runtime
        p = runtime.getDeviceProperties(0)
        sms, per_sm, warp = p["multiProcessorCount"], p["maxThreadsPerMultiProcessor"], p["warpSize"]
        per_block = p["maxThreadsPerBlock"]
    else:
        import torch
        p = torch.cuda.get_device_properties(0)
        sms = p.multi_processor_count
        per_sm = getattr(p, "max_threads_per_multi_processor", None)
        warp = getattr(p, "warp_size", 32)
        per_block = 1024  # torch does not expose it; every CUDA GPU since 2010 allows 1024
    return {"multiprocessors": sms, "threads_per_multiprocessor": per_sm,
            "warp_size": warp, "threads_per_block": per_block,
            "resident_threads": sms * per_sm if per_sm else None}


def stand_in_threads() -> dict:
    """`gpu_threads()`'s figures for the recordings' dry run on a CPU: each core one
    "multiprocessor" running one thread (CUDA's own per-block limit kept)."""
    cores = os.cpu_count() or 1
    return {"multiprocessors": cores, "threads_per_multiprocessor": 1, "warp_size": 1,
            "threads_per_block": 1024, "resident_threads": cores}

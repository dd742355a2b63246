"""The real GPU runs: a Numba CUDA kernel through numba.cuda, CUDA C through cupy.RawKernel.

Both give each array argument a guard zone after its end (bytes of GUARD, one element per
thread of the launch, at least 1024): after the kernel, a byte of the zone that changed is a
write past the end, reported with the array's name and the first index written.

Both run in a fresh child process (`in_child`, through `isolation.run`): an illegal memory
access leaves a CUDA context dead for good, and a kernel that never ends keeps its process's
GPU busy, so each happens to a process that then ends, never to the notebook's, which goes on
(a KernelCrash or KernelTimeout with a message). The child's KernelErrors come back as data and
are raised again here with their type.

Known limitations: a read past the end, or a write further than the zone, goes unseen here;
the CPU paths, which every check runs first, see those.
"""
from __future__ import annotations

import inspect
import time
from typing import Callable

import numpy as np

from . import errors
from .errors import KernelCompileError, KernelCrash, KernelError, KernelTimeout, OutOfBoundsError
from .launch import KernelRun, Launch
from .source import land_kernel, ship_kernel

GUARD = 0x7E    # the value of every byte of a guard zone
CHILD_SLACK = 60.0   # seconds a GPU child may take beyond the kernel's limit: CUDA start-up, copies


def in_child(job: str, *args, timeout: float, backend: str):
    """The job ("module:function", returning `as_data`'s reply) in a fresh process; its value."""
    from .. import isolation
    try:
        reply = isolation.run(job, *args, timeout=timeout + CHILD_SLACK)
    except isolation.IsolationError as exc:
        if str(exc).startswith("did not finish"):
            raise KernelTimeout(f"the kernel ran past the time limit of {timeout:.0f} s; its process was "
                                "ended, and the GPU is free again", backend=backend) from None
        raise KernelCrash(f"the kernel's process on the GPU failed: {exc}. The usual cause is an illegal "
                          "memory access (a read or write outside an array): the CPU checks say where; "
                          "this notebook's GPU is unharmed", backend=backend) from None
    except AssertionError as exc:                        # a refusal worded in the child
        raise KernelError(str(exc), backend=backend) from None
    if isinstance(reply, dict) and "kernel_error" in reply:
        kind, facts, back, launch, advice = reply["kernel_error"]
        cls = getattr(errors, str(kind), KernelError)
        cls = cls if isinstance(cls, type) and issubclass(cls, KernelError) else KernelError
        raise cls(str(facts), backend=str(back), launch=str(launch), advice=str(advice))
    return reply["value"]


def as_data(run: Callable[[], object]) -> dict:
    """A child's reply: {"value": run()}, or the KernelError it raised, as data."""
    try:
        return {"value": run()}
    except KernelError as e:
        return {"kernel_error": [type(e).__name__, e.facts, e.backend, e.launch, e.advice]}


class _Numba:
    """Device arrays and events through numba.cuda."""

    def __init__(self):
        from numba import cuda
        self.cuda = cuda

    def upload(self, raw: np.ndarray):
        return self.cuda.to_device(raw)

    def download(self, raw) -> np.ndarray:
        return raw.copy_to_host()

    def done(self) -> Callable[[], bool]:
        ev = self.cuda.event()
        ev.record()
        return ev.query


class _CuPy:
    """Device arrays and events through CuPy."""

    def __init__(self):
        import cupy
        self.cp = cupy

    def upload(self, raw: np.ndarray):
        return self.cp.asarray(raw)

    def download(self, raw) -> np.ndarray:
        return self.cp.asnumpy(raw)

    def done(self) -> Callable[[], bool]:
        ev = self.cp.cuda.Event()
        ev.record()
        return lambda: ev.done


def _guarded(lib, launch: Launch) -> tuple[list, list]:
    """Device arguments (each array followed by its guard zone) and what to read back."""
    dev, guards = [], []
    for a in launch.args:
        if not isinstance(a, np.ndarray):
            dev.append(a)
            guards.append(None)
            continue
        a = np.ascontiguousarray(a)
        pad = max(1024, launch.threads) * a.itemsize
        raw = lib.upload(np.concatenate([a.view(np.uint8).ravel(), np.full(pad, GUARD, np.uint8)]))
        dev.append(raw[:a.nbytes].view(a.dtype).reshape(a.shape))
        guards.append((raw, a))
    return dev, guards


def _read_back(lib, launch: Launch, guards: list, names: list[str], timeout: float, backend: str,
               guard_example: str) -> list:
    """Wait for the launch (up to `timeout`), then each array, its guard zone checked."""
    done, t0 = lib.done(), time.time()
    while not done():
        if time.time() - t0 > timeout:
            raise KernelTimeout(f"the kernel ran past the time limit of {timeout:.0f} s (its process is "
                                "ended, which frees the GPU)", backend=backend, launch=launch.describe())
        time.sleep(0.001)
    out = []
    for i, g in enumerate(guards):
        if g is None:
            out.append(None)
            continue
        raw, a = g
        host = lib.download(raw)
        tail = host[a.nbytes:]
        if (tail != GUARD).any():
            first = int(np.flatnonzero(tail != GUARD)[0]) // a.itemsize
            nm = names[i] if i < len(names) else f"argument {i}"
            raise OutOfBoundsError(
                f"out-of-bounds write past the end of {nm}: element [{a.size + first}] was written "
                f"({nm} has {a.size} element{'s' * (a.size != 1)}). Add a bounds guard such as {guard_example}",
                backend=backend, launch=launch.describe())
        out.append(host[:a.nbytes].view(a.dtype).reshape(a.shape).copy())
    return out


def _numba_kernel(kernel, name):
    from numba import cuda
    if isinstance(kernel, str):
        shipment = ship_kernel(kernel, name)
        return land_kernel(shipment)[shipment.name]
    if hasattr(kernel, "py_func") and type(kernel).__name__ != "FakeCUDAKernel":
        return kernel
    return cuda.jit(getattr(kernel, "py_func", kernel))


def run_numba_gpu(kernel, launches: list[Launch], name, timeout) -> KernelRun:
    """Each launch of a Numba kernel on the GPU, arrays copied in and back."""
    from ..device import detect
    backend = f"GPU ({detect().name}), Numba CUDA"
    lib = _Numba()
    kern = _numba_kernel(kernel, name)
    names = list(inspect.signature(getattr(kern, "py_func", kern)).parameters)
    outputs = []
    for L in launches:
        dev, guards = _guarded(lib, L)
        try:
            kern[L.grid3, L.block3, 0, L.shared_mem](*dev)
        except Exception as e:
            if any(s in type(e).__name__ for s in ("Typing", "Lowering", "Unsupported")):
                raise KernelCompileError(f"the kernel does not compile:\n{e}", backend=backend) from None
            raise
        outputs.append(_read_back(lib, L, guards, names, timeout, backend, "`if i < n:`"))
    return KernelRun(backend, outputs, [], [None] * len(launches), {})


def run_cupy(source: str, name: str, launches: list[Launch], options, timeout, names: list[str]):
    """Each launch of a CUDA C kernel through cupy.RawKernel: (outputs, the compiled kernel)."""
    import cupy as cp
    from cupy.cuda.compiler import CompileException
    backend = "GPU, CuPy"
    try:
        kern = cp.RawKernel(source, name, options=tuple(options))
        kern.compile()
    except CompileException as e:
        raise KernelCompileError("the kernel does not compile:\n" + str(e), backend=backend) from None
    lib = _CuPy()
    outputs = []
    for L in launches:
        dev, guards = _guarded(lib, L)
        kern(L.grid3, L.block3, tuple(dev), shared_mem=L.shared_mem)
        outputs.append(_read_back(lib, L, guards, names, timeout, backend, "`if (i < n)`"))
    return outputs, kern


def numba_job(kernel, launches: list[Launch], name, timeout) -> dict:
    """In the child: `run_numba_gpu`'s outputs and backend, as data."""
    return as_data(lambda: (lambda r: {"outputs": r.outputs, "backend": r.backend})(
        run_numba_gpu(kernel, launches, name, timeout)))


def cupy_job(source: str, name: str, launches: list[Launch], options, timeout, names: list[str]) -> dict:
    """In the child: `run_cupy`'s outputs and the kernel's register count, as data."""
    return as_data(lambda: (lambda out, kern: {"outputs": out, "num_regs": getattr(kern, "num_regs", None)})(
        *run_cupy(source, name, launches, options, timeout, names)))

"""The real GPU runs: a Numba CUDA kernel through numba.cuda, CUDA C through cupy.RawKernel.

Both give each array argument a guard zone after its end (bytes of GUARD, one element per
thread of the launch, at least 1024): after the kernel, a byte of the zone that changed is a
write past the end, reported with the array's name and the first index written. Both stop
waiting past the time limit (the kernel keeps the GPU busy: the message says to restart).

Known limitations: a read past the end, or a write further than the zone, goes unseen here;
the CPU paths, which every check runs first, see those.
"""
from __future__ import annotations

import inspect
import time
from typing import Callable

import numpy as np

from .errors import KernelCompileError, KernelTimeout, OutOfBoundsError
from .launch import KernelRun, Launch
from .source import land_kernel, ship_kernel

GUARD = 0x7E    # the value of every byte of a guard zone


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
            raise KernelTimeout(f"the kernel ran past the time limit of {timeout:.0f} s (it is still running "
                                f"on the GPU: restart the runtime)", backend=backend, launch=launch.describe())
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

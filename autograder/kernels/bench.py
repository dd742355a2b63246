"""What the GPU recordings time kernels with, and the CPU stand-in their dry run uses.

`python3 dev.py gpu-figures` times CUDA C kernels (cupy.RawKernel), a Numba kernel and torch on
a GPU, with device events. Its dry run (`--dry-run`, tested in CI) must walk the same code on a
machine without one, so a chapter's `record()` asks `bench(dry)` for one object and uses only
its methods: arrays (`xp`, `randn`, `host`, `copy_in`, `copy_out`), `raw_kernel`, `numba_kernel`, `sync`, `median_ms`.

    GPU  CuPy arrays, cupy.RawKernel, numba.cuda.jit (launched on CuPy arrays through
         __cuda_array_interface__), CUDA events; torch on "cuda".
    CPU  NumPy arrays; each launch through the course's CPU runners (the C++ shim under
         AddressSanitizer, Numba's simulator), results copied back into the arguments;
         perf_counter for events; torch on "cpu".

Known limitations: the CPU stand-in's times are of the CPU runners (milliseconds per launch),
never a GPU's: they exist so that the dry run writes every figure's key, not its value.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np

from .launch import Launch


class GpuBench:
    """The real thing: CuPy, Numba CUDA and torch on device 0."""
    dry = False
    torch_device = "cuda"

    def __init__(self):
        import cupy
        self.xp = cupy

    def randn(self, shape):
        return self.xp.random.standard_normal(shape, dtype=self.xp.float32)

    def host(self, x) -> np.ndarray:
        return self.xp.asnumpy(x)

    def copy_in(self, dst, src: np.ndarray) -> None:
        dst.set(src)

    def copy_out(self, dst: np.ndarray, src) -> None:
        src.get(out=dst)

    def raw_kernel(self, source: str, name: str) -> Callable:
        """launch(grid, block, args): cupy.RawKernel(source, name) called as CuPy calls it."""
        kern = self.xp.RawKernel(source, name)
        return lambda grid, block, args: kern(tuple(np.atleast_1d(grid)), tuple(np.atleast_1d(block)),
                                              tuple(args))

    def numba_kernel(self, source: str, name: str) -> Callable:
        """launch(grid, block, args) of the Numba kernel `name` defined in `source`."""
        from .source import land_kernel, ship_kernel
        kern = land_kernel(ship_kernel(source, name))[name]
        return lambda grid, block, args: kern[grid, block](*args)

    def sync(self) -> None:
        self.xp.cuda.Device().synchronize()

    def event(self):
        return self.xp.cuda.Event()

    @staticmethod
    def elapsed_ms(start, end) -> float:
        import cupy
        end.synchronize()
        return cupy.cuda.get_elapsed_time(start, end)

    def median_ms(self, fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
        """Median milliseconds of fn() between two events recorded around it (after warm-up).
        Events on the legacy default stream also time torch's work there."""
        for _ in range(warmup):
            fn()
        self.sync()
        times = []
        for _ in range(repeats):
            start, end = self.event(), self.event()
            start.record()
            fn()
            end.record()
            times.append(self.elapsed_ms(start, end))
        return statistics.median(times)


class _HostEvent:
    def __init__(self):
        self.t = 0.0

    def record(self):
        self.t = time.perf_counter()


class CpuBench(GpuBench):
    """The dry run's stand-in: NumPy arrays and the course's CPU runners, one launch at a time."""
    dry = True
    torch_device = "cpu"

    def __init__(self):
        self.xp = np

    def randn(self, shape):
        return np.random.default_rng(0).standard_normal(shape, dtype=np.float32)

    def host(self, x) -> np.ndarray:
        return np.asarray(x)

    def copy_in(self, dst, src: np.ndarray) -> None:
        np.copyto(dst, src)

    copy_out = copy_in

    @staticmethod
    def _copy_back(args, outputs):
        for a, out in zip(args, outputs):
            if isinstance(a, np.ndarray) and out is not None:
                a[...] = out

    def raw_kernel(self, source: str, name: str) -> Callable:
        from .cuda_c import run_cuda_c

        def launch(grid, block, args):
            run = run_cuda_c(source, name, [Launch(grid, block, list(args))], backend="cpu",
                             sanitizers=("address",))
            self._copy_back(args, run.outputs[0])
        return launch

    def numba_kernel(self, source: str, name: str) -> Callable:
        from .numba_runner import run_numba

        def launch(grid, block, args):
            run = run_numba(source, [Launch(grid, block, list(args))], name=name, backend="cpu",
                            compile_check=False)
            self._copy_back(args, run.outputs[0])
        return launch

    def sync(self) -> None:
        pass

    def event(self):
        return _HostEvent()

    @staticmethod
    def elapsed_ms(start, end) -> float:
        return (end.t - start.t) * 1e3


def bench(dry: bool = False) -> GpuBench:
    """The GPU's bench, or (dry) the CPU stand-in; without a GPU and not dry, an error."""
    if dry:
        return CpuBench()
    from ..device import detect
    if not detect().cuda:
        raise RuntimeError("no GPU: GPU figures are recorded on a CUDA GPU only (the dry run "
                           "uses the CPU stand-in)")
    return GpuBench()

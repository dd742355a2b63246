"""`run_kernel`: one call for a kernel in either language, on whichever backend the machine has.

A string holding `__global__` is CUDA C (run by `cuda_c`); anything else is a Numba kernel (a
function, a dispatcher, or Python source text, run by `numba_runner`). Each runner checks the
launches against CUDA's limits once, where they enter it.
"""
from __future__ import annotations

from typing import Sequence

from .cuda_c import run_cuda_c
from .launch import KernelRun, Launch
from .numba_runner import run_numba


def is_cuda_c(kernel) -> bool:
    """CUDA C source text, as cupy.RawKernel takes it (not a Numba kernel)."""
    return isinstance(kernel, str) and "__global__" in kernel


def run_kernel(kernel, launches: Sequence[Launch], *, name: str | None = None, backend: str = "auto",
               options: Sequence[str] = (), count_accesses: bool = False, timeout: float = 60.0,
               sanitizers: Sequence[str] = ("address", "thread"), single_writer: bool = False) -> KernelRun:
    """Run a Numba CUDA kernel (function, dispatcher or source text) or CUDA C source text.

    backend: "auto" (GPU if `detect().cuda`, else the CPU path), "gpu", or "cpu"
    ("simulator" and "shim" are accepted as names of the CPU path). count_accesses: global reads
    and writes per array and barriers per thread, in `KernelRun.accesses` (counted on the CPU,
    on a GPU machine too); single_writer: two threads writing one element of an array fail the
    run, as a race (for kernels where each element has one owner).
    """
    if is_cuda_c(kernel):
        if name is None:
            raise ValueError("CUDA C needs the kernel's name, as cupy.RawKernel(code, name) does")
        return run_cuda_c(kernel, name, launches, options=options, backend=backend, timeout=timeout,
                          sanitizers=sanitizers, count_accesses=count_accesses, single_writer=single_writer)
    return run_numba(kernel, launches, name=name, backend=backend, count_accesses=count_accesses,
                     timeout=timeout, single_writer=single_writer)

"""What one kernel launch is, what a GPU allows of it, and what a runner hands back.

Pure data and arithmetic, below every runner and check: `Launch` (grid, block, arguments,
dynamic shared memory), CUDA's limits and `validate_launch`, which refuses what a GPU would
refuse (the Numba simulator accepts 2048 threads per block); `KernelRun` and `AccessCount`,
what the runners return. Also `on_gpu`, the one reading of a `backend=` argument.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .errors import LaunchConfigError

MAX_THREADS_PER_BLOCK = 1024
MAX_BLOCK_DIM = (1024, 1024, 64)
MAX_GRID_DIM = (2**31 - 1, 65535, 65535)
STATIC_SHARED_LIMIT = 48 * 1024
DEFAULT_CC = (7, 5)             # Colab's T4; also the oldest architecture CUDA 13 still builds for
BACKENDS = ("auto", "gpu", "cpu", "simulator", "shim")


def on_gpu(backend: str) -> bool:
    """Whether `backend` means the GPU: "gpu", or "auto" on a machine that has one. "cpu" (also
    called "simulator" and "shim") is the CPU path."""
    if backend not in BACKENDS:
        raise ValueError(f"backend is one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend != "auto":
        return backend == "gpu"
    from ..device import detect
    return detect().cuda


def dim3(v) -> tuple[int, int, int]:
    """(x, y, z) from an int or a 1-3 tuple, as CUDA's dim3 fills missing sizes with 1."""
    if isinstance(v, (int, np.integer)):
        return (int(v), 1, 1)
    t = tuple(int(x) for x in v)
    if not 1 <= len(t) <= 3:
        raise ValueError(f"a grid or block has 1 to 3 dimensions, got {v!r}")
    return t + (1,) * (3 - len(t))


def validate_launch(grid, block, backend: str = "", label: str = "") -> None:
    """Raise LaunchConfigError for a launch a GPU would refuse (the simulator accepts them)."""
    g, b = dim3(grid), dim3(block)
    threads = b[0] * b[1] * b[2]
    if min(b) < 1 or min(g) < 1:
        raise LaunchConfigError(
            f"grid {g} and block {b} must be at least 1 in every dimension", backend=backend, launch=label)
    if threads > MAX_THREADS_PER_BLOCK:
        raise LaunchConfigError(
            f"a block may hold at most {MAX_THREADS_PER_BLOCK} threads, this launch asks for "
            f"{threads} threads per block (block={b}); a GPU refuses it with "
            f"'invalid configuration argument'. Use more blocks of at most 1024 threads.",
            backend=backend, launch=label)
    for axis, (n, limit) in enumerate(zip(b, MAX_BLOCK_DIM)):
        if n > limit:
            raise LaunchConfigError(f"block dimension {'xyz'[axis]} = {n} exceeds the limit {limit}",
                                    backend=backend, launch=label)
    for axis, (n, limit) in enumerate(zip(g, MAX_GRID_DIM)):
        if n > limit:
            raise LaunchConfigError(f"grid dimension {'xyz'[axis]} = {n} exceeds the limit {limit}",
                                    backend=backend, launch=label)


@dataclass
class Launch:
    """One kernel launch: kernel[grid, block](*args), with `shared_mem` bytes of dynamic shared memory.

    Array arguments are NumPy arrays (copied in, copied back); scalars are NumPy scalars
    (np.int32(n), np.float32(x)) so that CUDA C receives exactly the declared type.
    `blocks`: on the CPU, run only these blocks (linear indices, x fastest), so that a grid
    past 65,536 threads stays cheap there; a GPU runs them all. Only for kernels whose blocks
    do not depend on each other, and a check then compares only what those blocks write.
    """
    grid: Any
    block: Any
    args: Sequence[Any]
    shared_mem: int = 0
    label: str = ""
    blocks: range | None = None

    @property
    def grid3(self) -> tuple[int, int, int]:
        return dim3(self.grid)

    @property
    def block3(self) -> tuple[int, int, int]:
        return dim3(self.block)

    @property
    def threads(self) -> int:
        return int(np.prod(self.grid3)) * int(np.prod(self.block3))

    @property
    def cpu_threads(self) -> int:
        """The threads the CPU runs: those of `blocks` only, where it is given."""
        if self.blocks is None:
            return self.threads
        return len(self.blocks) * int(np.prod(self.block3))

    def describe(self) -> str:
        def short(t):
            t = list(t)
            while len(t) > 1 and t[-1] == 1:
                t.pop()
            return str(t[0]) if len(t) == 1 else "(" + ", ".join(map(str, t)) + ")"
        text = f"grid={short(self.grid3)}, block={short(self.block3)}"
        if self.blocks is not None:
            text += f", blocks {self.blocks.start}..{self.blocks.stop - 1} run on the CPU"
        return f"{self.label} ({text})" if self.label else text


def validated(launches: Sequence[Launch], backend: str) -> list[Launch]:
    """The launches as a list, each checked once against CUDA's limits where it enters a runner."""
    launches = list(launches)
    if not launches:
        raise ValueError("no launches")
    for L in launches:
        validate_launch(L.grid, L.block, backend=backend, label=L.describe())
        total = int(np.prod(L.grid3))
        if L.blocks is not None and not (0 <= L.blocks.start < L.blocks.stop <= total and L.blocks.step == 1):
            raise ValueError(f"blocks={L.blocks} is not a range of the grid's {total} blocks")
    return launches


@dataclass
class AccessCount:
    """Global-memory element reads and writes of one launch, counted in the simulator."""
    reads: dict[str, int] = field(default_factory=dict)          # argument name -> element reads
    writes: dict[str, int] = field(default_factory=dict)
    max_reads_per_thread: int = 0
    max_writes_per_thread: int = 0
    threads: int = 0                                              # threads that touched global memory
    barriers: int = 0                                             # most __syncthreads() one thread passed

    @property
    def total_reads(self) -> int:
        return sum(self.reads.values())

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())


@dataclass
class KernelRun:
    """What a runner returns: the arrays after each launch, and how they were obtained."""
    backend: str
    outputs: list[list[Any]]                   # per launch, per argument: array after the kernel (None for scalars)
    notes: list[str] = field(default_factory=list)
    accesses: list[AccessCount | None] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

"""The few GPU array operations chapter 1's measurements need, through CuPy or torch.

A page asks `gpu()` and gets an object with the same methods whichever library
reaches the GPU (Colab has both; the grading machine may have one), or None on a CPU.
`HostArrays` stands in for a GPU in the recording's dry run (`dev.py gpu-figures --dry-run`):
NumPy "device" arrays, so that the same measuring code runs, and checks, without one.
Known limitations: float arrays and elementwise add and matmul only, what the timings use.
"""
from __future__ import annotations

import numpy as np

from ..device import detect


class CupyArrays:
    def __init__(self):
        import cupy
        self.xp = cupy
        self.name = f"CuPy {cupy.__version__}"

    def empty(self, n, dtype=np.float32):
        return self.xp.empty(n, dtype=dtype)

    def upload(self, dst, src):       # host -> device
        dst.set(src)

    def download(self, dst, src):     # device -> host
        src.get(out=dst)

    def add(self, a, b, out):
        self.xp.add(a, b, out=out)

    def from_host(self, x):
        return self.xp.asarray(x)

    def matmul(self, a, b):
        return a @ b

    def sync(self):
        self.xp.cuda.Device().synchronize()


class TorchArrays:
    def __init__(self):
        import torch
        self.torch = torch
        self.name = f"torch {torch.__version__}"

    def empty(self, n, dtype=np.float32):
        return self.torch.empty(n, dtype=getattr(self.torch, np.dtype(dtype).name), device="cuda")

    def upload(self, dst, src):
        dst.copy_(self.torch.from_numpy(src))

    def download(self, dst, src):
        self.torch.from_numpy(dst).copy_(src)

    def add(self, a, b, out):
        self.torch.add(a, b, out=out)

    def from_host(self, x):
        return self.torch.from_numpy(x).cuda()

    def matmul(self, a, b):
        return a @ b

    def sync(self):
        self.torch.cuda.synchronize()


class HostArrays:
    """NumPy arrays standing in for device arrays: copies are copies, sync does nothing."""
    name = f"NumPy {np.__version__}, standing in for a GPU"

    def empty(self, n, dtype=np.float32):
        return np.empty(n, dtype=dtype)

    def upload(self, dst, src):
        np.copyto(dst, src)

    def download(self, dst, src):
        np.copyto(dst, src)

    def add(self, a, b, out):
        np.add(a, b, out=out)

    def from_host(self, x):
        return np.array(x)

    def matmul(self, a, b):
        return a @ b

    def sync(self):
        pass


def gpu(stand_in: bool = False):
    """Array operations on the GPU that `device.detect()` found, or None without one
    (`stand_in`: HostArrays without one, for the recording's dry run)."""
    dev = detect()
    if not dev.cuda:
        return HostArrays() if stand_in else None
    return CupyArrays() if dev.api == "cupy" else TorchArrays()

"""Which memory counters the meter reads, chosen once, and the error it raises when it cannot.

One place decides "cuda" or "cpu" for the meter, the display and the workloads, so that a CPU-only
build never reads the CUDA counters: they return 0 there, and "0 went down to 0" must not pass a
check.
"""
from __future__ import annotations

import torch


class MeterError(RuntimeError):
    """The meter could not measure what was asked; the message says why."""


def resolve_backend(backend: str | None = None) -> str:
    """"cuda" where torch can use a GPU, else "cpu"; an explicit "cuda" without one is refused."""
    if backend is None:
        from ..device import detect
        return "cuda" if detect().cuda and torch.cuda.is_available() else "cpu"
    if backend not in ("cpu", "cuda"):
        raise ValueError(f"backend must be 'cpu', 'cuda' or None, not {backend!r}")
    if backend == "cuda" and not torch.cuda.is_available():
        raise MeterError("backend='cuda' asked for, but this torch sees no CUDA GPU: its memory "
                         "counters would read 0 and show a reduction nobody measured.")
    return backend

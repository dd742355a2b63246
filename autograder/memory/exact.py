"""A measurement in tensor bytes on any backend, so that byte arithmetic is graded like with like.

A student's prediction written from shapes and dtypes (bytes per parameter, the persistent
bytes of a model, the bytes saved for backward, an optimizer's state) counts tensor bytes. On a
GPU the meter counts what the caching allocator holds: each storage rounded up to 512 bytes,
so a 16-float bias takes 512 bytes, not 64, and a right answer would read as wrong (chapter 6's
widths [48, 32, 16] with Adam: 33,536 tensor bytes, 36,864 on the allocator). A check of such
a prediction compares it with `in_tensor_bytes(m, setup, ...)`: `m` itself where the meter
counted tensor bytes (the CPU backend), else the same setup built on the CPU and measured by
the storage tracker, which counts every storage exactly; `m` still names the GPU's figure.

Known limitations: the setup must take `device=` (the course's own setups do); the CPU
measurement is in this process, so it grades course setups only, never a student's.
"""
from __future__ import annotations

from typing import Callable

from .meter import Measurement, measure
from .setups import build


def in_tensor_bytes(m: Measurement, setup: Callable | str, *args, **kwargs) -> Measurement:
    """`m` when it counts tensor bytes (CPU); else setup(*args, device="cpu", **kwargs)'s step
    measured on the CPU, whose figures are the tensors' own bytes."""
    if m.backend == "cpu":
        return m
    return measure(build(setup, *args, device="cpu", **kwargs), backend="cpu", label=m.label)


def also_on(m: Measurement, exact: Measurement, figure: Callable[[Measurement], int]) -> str:
    """", 36,864 bytes on the cuda allocator" when the two differ, for a check's message."""
    if m is exact or figure(m) == figure(exact):
        return ""
    return f" ({figure(m):,} bytes on the {m.backend} allocator, which rounds each storage up to 512)"

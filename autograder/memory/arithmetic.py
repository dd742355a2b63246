"""The meter's pure arithmetic: bytes of storages and tensors, and lifetimes of allocations.

Kept apart from the observing code so that what a figure means can be tested against hand
arithmetic with no step run at all, and so that the tracker, the checks and the display agree on
one vocabulary (KINDS, FIGURES). Integer bytes only; units belong to `display`.

Known limitations: `storage_bytes` models the CUDA caching allocator's 512-byte rounding only,
not its 2 MiB segments or the small/large pools.
"""
from __future__ import annotations

from typing import Iterable

KINDS = ("parameters", "gradients", "optimizer_state", "activations", "other", "temporaries")
CUDA_BLOCK = 512  # the caching allocator rounds every block up to a multiple of 512 bytes
FIGURES = {  # what= names a check can compare, and how a message calls them
    "peak": "peak above baseline", "total": "peak including baseline",
    "saved": "bytes saved for backward", "persistent": "parameters + gradients + optimizer state",
    "retained": "bytes left alive by the step",
    **{k: f"{k.replace('_', ' ')} at the peak" for k in KINDS + ("unattributed",)},
}


def storage_bytes(nbytes: int, backend: str = "cpu") -> int:
    """Bytes one storage occupies: exact on the CPU, rounded to 512 like the CUDA allocator."""
    return -(-nbytes // CUDA_BLOCK) * CUDA_BLOCK if backend == "cuda" else nbytes


def tensor_bytes(tensors: Iterable, backend: str = "cpu") -> int:
    """Bytes behind some tensors, each storage counted once (a view adds nothing)."""
    seen: dict[int, int] = {}
    for t in tensors:
        st = t.untyped_storage()
        seen[id(st)] = storage_bytes(st.nbytes(), backend)
    return sum(seen.values())


def live_at(intervals: Iterable[tuple[int, int | None, int]], t: int) -> int:
    """Bytes live at time t, given (allocated_at, freed_at or None, bytes) intervals."""
    return sum(b for a, f, b in intervals if a <= t and (f is None or f > t))


def max_live(intervals: Iterable[tuple[int, int | None, int]]) -> int:
    """The most bytes live at once over (allocated_at, freed_at or None, bytes) intervals."""
    events = []
    for a, f, b in intervals:
        events.append((a, b))
        if f is not None:
            events.append((f, -b))
    live = best = 0
    for _, b in sorted(events):  # at equal times frees (-b) sort first: a freed block is reused
        live += b
        best = max(best, live)
    return best


def required_at_most(baseline: int, at_least: float) -> int:
    """The largest candidate figure that is still `at_least` (a fraction) below the baseline."""
    return int(baseline * (1.0 - at_least) + 1e-6)   # 1e-6: 0.6 is not exact in binary


def fmt(n: int) -> str:
    """Bytes for a check's message: MiB for the eye, the exact count for the record."""
    return f"{n / 2**20:.1f} MiB ({n:,} bytes)"

"""How long a setup's step takes, and a copy between host and device: what a memory technique
costs in time, for the pages that show it.

Checkpointing buys memory with a second forward pass, accumulation with more, smaller steps,
offloading with copies between host and device: chapters 11 to 13 set that price beside the
bytes. Timings are shown, never graded (machines are noisy), and taken so that noise hurts
least: the steps of every case in turns, the least time of each kept, and on a CPU the
process's CPU time (what the step computed, whatever else the machine runs).

Known limitations: on a CPU, CPU time counts every thread torch uses, so a step spread over
two threads reads as the sum of both; on a GPU the figure is wall time after a synchronize.
"""
from __future__ import annotations

import time

import torch

from .backend import resolve_backend
from .setups import build


def step_times(cases: dict, repeat: int = 9, backend: str | None = None) -> dict[str, float]:
    """Seconds per step of each case {name: (setup, args, kwargs)}: one warm-up step each, then
    `repeat` rounds of one step per case; the least of each case's times."""
    cuda = resolve_backend(backend) == "cuda"
    clock = time.perf_counter if cuda else time.process_time
    steps = {name: build(setup, *args, **kwargs).step for name, (setup, args, kwargs) in cases.items()}
    for step in steps.values():
        step()
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeat):
        for name, step in steps.items():
            if cuda:
                torch.cuda.synchronize()
            t0 = clock()
            step()
            if cuda:
                torch.cuda.synchronize()
            best[name] = min(best[name], clock() - t0)
    return best


def _copy_seconds(dst, src, pinned: bool, dry: bool) -> float:
    if dry:
        t0 = time.perf_counter()
        dst.copy_(src)
        return time.perf_counter() - t0
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    dst.copy_(src, non_blocking=pinned)
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


def copy_times(mib: int = 64, repeat: int = 5, dry: bool = False) -> dict[str, float]:
    """Seconds to copy `mib` MiB device -> host and host -> device, from pageable and from
    pinned host memory, the least of `repeat` copies timed with CUDA events (GPU only).
    dry: the same walk as host-to-host copies on the clock, for the recording's dry run."""
    if not dry and resolve_backend(None) != "cuda":
        raise RuntimeError("copy times between host and device need a GPU")
    n = mib * 2**20 // 4
    dev = torch.empty(n, device="cpu" if dry else "cuda")
    out = {}
    for pinned in (False, True):
        host = torch.empty(n, pin_memory=pinned and not dry)
        for name, (dst, src) in (("device to host", (host, dev)), ("host to device", (dev, host))):
            best = float("inf")
            for _ in range(repeat):
                best = min(best, _copy_seconds(dst, src, pinned, dry))
            out[f"{name}, {'pinned' if pinned else 'pageable'}"] = best
    return out

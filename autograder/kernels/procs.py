"""A kernel's child processes: which launch a killed one was at, and a time limit scaled to the machine.

Every runner child (the Numba simulator, the PTX compile, a CUDA C binary under a sanitizer)
starts through `children` (its own process group, tied to its parent, sandboxed while
grading). A child writes `@@LAUNCH k` on stderr as it starts launch k, so that a child killed
on time still says which launch never ended.

A kernel's time limit is scaled to the machine (`Limit`): a run still going after a floor of a
few seconds makes the runner time a reference (the same launches of a kernel that does
nothing), and the run may go on to `factor` times that, so that a busy machine does not fail a
slow right kernel while an endless loop is reported in seconds.
"""
from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from typing import Callable

from ..children import wait


def launch_of(stderr: str, default: int = 0) -> int:
    """The launch a child was at when it stopped: the last `@@LAUNCH k` it wrote to stderr."""
    found = re.findall(r"@@LAUNCH (\d+)", stderr)
    return int(found[-1]) if found else default


@dataclass
class Limit:
    """A time limit of max(floor, factor * reference seconds), at most `ceiling`. `reference()`
    runs only when a run is still going at the floor, and once per Limit."""
    floor: float
    ceiling: float
    factor: float = 10.0
    reference: Callable[[], float] | None = None
    measured: float | None = None

    def seconds(self) -> float:
        if self.reference is not None and self.measured is None:
            self.measured = self.reference()
        scaled = self.factor * self.measured if self.measured is not None else 0.0
        return min(self.ceiling, max(self.floor, scaled))

    def describe(self, seconds: float) -> str:
        if self.measured is None or seconds >= self.ceiling or seconds <= self.floor:
            return f"{seconds:.0f} s"
        return (f"{seconds:.0f} s ({self.factor:g} times the {self.measured:.1f} s that a kernel doing nothing "
                f"takes on the same launches here)")


def wait_scaled(proc: subprocess.Popen, limit: Limit, t0: float) -> tuple[str, str, bool, float]:
    """(stdout, stderr, timed_out, limit in seconds) of a child started at `t0`, its group killed
    past the limit."""
    first = min(limit.floor, limit.ceiling)
    try:
        out, err = proc.communicate(timeout=max(0.1, first - (time.time() - t0)))
        return out, err, False, first
    except subprocess.TimeoutExpired:
        pass
    total = limit.seconds()
    left = total - (time.time() - t0)
    if left > 0:
        try:
            out, err = proc.communicate(timeout=left)
            return out, err, False, total
        except subprocess.TimeoutExpired:
            pass
    out, err, timed_out = wait(proc, 0)
    return out, err, timed_out, total

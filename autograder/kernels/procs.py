"""The child processes a kernel runs in: started in one way, waited for in one way.

A student's kernel may loop forever, so every runner child (the Numba simulator, the PTX
compile, a CUDA C binary under a sanitizer) is started in its own process group, which is
killed whole past the time limit, and is tied to its parent: on Linux it gets SIGKILL when the
thread that started it dies, so a killed notebook kernel leaves no kernel binary running (a
new session alone escapes a killed parent's group). A child writes `@@LAUNCH k` on stderr as
it starts launch k, so that a child killed on time still says which launch never ended.

A kernel's time limit is scaled to the machine (`Limit`): a run still going after a floor of a
few seconds makes the runner time a reference (the same launches of a kernel that does
nothing), and the run may go on to `factor` times that, so that a busy machine does not fail a
slow right kernel while an endless loop is reported in seconds.

Known limitations: the parent-death signal is Linux only; elsewhere a child outlives a parent
killed by SIGKILL until its own time limit, which the child does not enforce.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import isolation

PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])   # the folder that holds autograder/


def start(cmd: list[str], env: dict | None = None, cwd: str | None = None,
          writable: tuple[str, ...] = (), readable: tuple[str, ...] = ()) -> subprocess.Popen:
    """Start `cmd` in a process group of its own, tied to this process; text stdout and stderr.
    While grading, it starts in the sandbox, which lets it write only in `cwd` and `writable`
    and read of the grader's files only `readable` (and the Python environment)."""
    cmd = isolation.wrap_command(cmd, [*([cwd] if cwd else []), *writable], list(readable))
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                            errors="replace", start_new_session=True, preexec_fn=isolation.tied_to_parent())


def start_module(module: str, *args: str, env: dict | None = None,
                 writable: tuple[str, ...] = (), readable: tuple[str, ...] = ()) -> subprocess.Popen:
    """`python -m <module> <args>` with this interpreter, the course's package importable."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    return start([sys.executable, "-m", module, *args], env=env, writable=writable, readable=readable)


def launch_of(stderr: str, default: int = 0) -> int:
    """The launch a child was at when it stopped: the last `@@LAUNCH k` it wrote to stderr."""
    found = re.findall(r"@@LAUNCH (\d+)", stderr)
    return int(found[-1]) if found else default


def wait(proc: subprocess.Popen, timeout: float) -> tuple[str, str, bool]:
    """(stdout, stderr, timed_out) of a child, killing its whole group past `timeout` seconds
    (an endless kernel must not outlive its check)."""
    try:
        out, err = proc.communicate(timeout=max(0.1, timeout))
        return out, err, False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        out, err = proc.communicate()
        return out, err, True


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

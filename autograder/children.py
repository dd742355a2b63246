"""The child processes the course starts: each in a process group of its own, tied to its parent.

A student's code may loop forever or fork, so every child that runs it (a kernel runner, a
compiler, a rank of a sharded model) starts in its own process group, which `wait` kills whole
past the time limit, and is tied to its parent: on Linux it gets SIGKILL when the thread that
started it dies, so a killed notebook kernel leaves no child running (a new session alone
escapes a killed parent's group). While grading, each starts inside the grader's sandbox.

Known limitations: the parent-death signal is Linux only; elsewhere a child outlives a parent
killed by SIGKILL until its own time limit, which the child does not enforce.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from . import isolation
from .lifetime import tied_to_parent

PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])   # the folder that holds autograder/


def start(cmd: list[str], env: dict | None = None, cwd: str | None = None,
          writable: tuple[str, ...] = (), readable: tuple[str, ...] = ()) -> subprocess.Popen:
    """Start `cmd` in a process group of its own, tied to this process; text stdout and stderr.
    While grading, it starts in the sandbox, which lets it write only in `cwd` and `writable`
    and read of the grader's files only `readable` (and the Python environment)."""
    cmd = isolation.wrap_command(cmd, [*([cwd] if cwd else []), *writable], list(readable))
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                            errors="replace", start_new_session=True, preexec_fn=tied_to_parent())


def start_module(module: str, *args: str, env: dict | None = None,
                 writable: tuple[str, ...] = (), readable: tuple[str, ...] = ()) -> subprocess.Popen:
    """`python -m <module> <args>` with this interpreter, the course's package importable."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    return start([sys.executable, "-m", module, *args], env=env, writable=writable, readable=readable)


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

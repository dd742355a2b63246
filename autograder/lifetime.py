"""A child process that dies with its parent (Linux's PR_SET_PDEATHSIG), in a module of its own.

The sandbox's guard starts in front of every sandboxed process and needs only this: importing it
from `isolation` brought in NumPy (through `wire`), a tenth of a second per sandboxed child.
"""
from __future__ import annotations

import ctypes
import functools
import signal
import sys


@functools.lru_cache(maxsize=None)
def _prctl():
    """libc's prctl, looked up in the parent (a forked child should call, not load, anything)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def tied_to_parent():
    """A preexec_fn that asks for SIGKILL when the parent goes (PR_SET_PDEATHSIG), or None."""
    prctl = _prctl() if sys.platform.startswith("linux") else None
    if prctl is None:
        return None

    def tie():
        prctl(1, signal.SIGKILL, 0, 0, 0)   # 1 = PR_SET_PDEATHSIG
    return tie

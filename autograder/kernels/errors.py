"""Why a kernel failed a check, as exception classes a test cell (and a test) can tell apart.

Every one is an AssertionError, so that nbgrader counts a failed check as a failed test, and
its message is written for the student: the backend in brackets, the launch, then what went
wrong. `reason` names the failure in one word, for reports and tests.
"""
from __future__ import annotations


class KernelError(AssertionError):
    """A kernel failed a check; the message is written for the student."""

    reason = "error"

    def __init__(self, message: str, *, backend: str = "", launch: str = ""):
        self.backend = backend
        self.launch = launch
        self.detail = message
        prefix = f"[{backend}] " if backend else ""
        where = f"{launch}: " if launch else ""
        super().__init__(prefix + where + message)


class KernelCompileError(KernelError):
    reason = "compile"


class LaunchConfigError(KernelError):
    reason = "launch"


class KernelTimeout(KernelError):
    reason = "timeout"


class OutOfBoundsError(KernelError):
    reason = "out-of-bounds"


class RaceError(KernelError):
    reason = "race"


class KernelCrash(KernelError):
    reason = "crash"


class WrongResult(KernelError):
    reason = "wrong"


class OverBudget(KernelError):
    reason = "budget"


def source_line(source: str | list[str], n: int) -> str:
    """Line `n` (from 1) of the student's source, stripped, to quote in a message ("" if none)."""
    lines = source.splitlines() if isinstance(source, str) else source
    return lines[n - 1].strip() if 0 < n <= len(lines) else ""

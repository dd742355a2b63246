"""Why a kernel failed a check, as exception classes a test cell (and a test) can tell apart.

Every one is an AssertionError, so that nbgrader counts a failed check as a failed test, and
its message is written for the student: the backend in brackets, the launch, then what went
wrong. `reason` names the failure in one word, for reports and tests.
"""
from __future__ import annotations


class KernelError(AssertionError):
    """A kernel failed a check; the message is written for the student."""

    reason = "error"

    def __init__(self, message: str, *, backend: str = "", launch: str = "", advice: str = "",
                 info: dict | None = None):
        self.backend = backend
        self.launch = launch
        self.facts = message
        self.advice = advice
        self.info = dict(info or {})
        self.detail = message + (f". {advice}" if advice else "")
        prefix = f"[{backend}] " if backend else ""
        where = f"{launch}: " if launch else ""
        super().__init__(prefix + where + self.detail)

    def with_advice(self, advice: str) -> "KernelError":
        """The same failure with other advice (a check that knows the kernel's intent says more)."""
        return type(self)(self.facts, backend=self.backend, launch=self.launch, advice=advice, info=self.info)


class KernelCompileError(KernelError):
    reason = "compile"


class LaunchConfigError(KernelError):
    reason = "launch"


class ArgumentTypeError(KernelError):
    """A scalar argument is not what the kernel's parameter declares (its size or its kind)."""
    reason = "argument type"


class KernelTimeout(KernelError):
    reason = "timeout"


class OutOfBoundsError(KernelError):
    reason = "out-of-bounds"


class RaceError(KernelError):
    reason = "race"


class KernelCrash(KernelError):
    reason = "crash"


class NotOnThisBackend(KernelError):
    """The kernel uses what this backend cannot run (warp operations in the Numba simulator)."""
    reason = "unsupported"


class WrongResult(KernelError):
    reason = "wrong"


class OverBudget(KernelError):
    reason = "budget"


def source_line(source: str | list[str], n: int) -> str:
    """Line `n` (from 1) of the student's source, stripped, to quote in a message ("" if none)."""
    lines = source.splitlines() if isinstance(source, str) else source
    return lines[n - 1].strip() if 0 < n <= len(lines) else ""

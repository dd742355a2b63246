"""`measure` in a fresh process, so that nothing a notebook did to this one can alter the figure.

A graded figure must not come from the process the student's notebook runs in: there it could
patch the meter, torch, or the step's bookkeeping. The job (`isolation.run`: a child forked from
a clean, warm zygote, sandboxed while grading) builds the setup and measures it, and hands back
only data. Notebook functions cannot be pickled (they live in `__main__`), so they travel as
source through `shipping`; course functions by name; a grader's `Remote` answer as its code.

Known limitations: POSIX only (fork); the figure comes from a process the student's setup runs
in, so code there that forges it (ctypes, or patching the meter from inside the step) is caught
only as far as `audit` checks and the outside cross-checks reach (README: what grading defends).
"""
from __future__ import annotations

import os
import sys
import types
from typing import Any, Callable

from .. import isolation
from ..shipping import ShippingError, in_notebook, ship, ship_text
from .backend import MeterError
from .meter import Measurement, measure
from .setups import build, resolve


def measure_isolated(setup: Callable[..., Any] | str, *args, backend: str | None = None,
                     warmup: int = 1, label: str = "", timeout: float = 120.0,
                     source: str | None = None, like: str | None = None, **kwargs) -> Measurement:
    """`measure` run in a fresh process: `setup(*args, **kwargs)` is built there and measured.

    What setup may return is what `setups.build` accepts (`like=`: the graded form, refused in
    the child with the same message as in process). `setup` is sent by name when importable (a
    module function or "package.module:function"), else by source with the notebook functions,
    classes and values it uses (or pass `source=` text that defines it). Arguments must pickle,
    bar notebook functions and classes, which are sent by source too: pass sizes and seeds.
    """
    target = _target(setup, source)
    try:
        data = isolation.run(_measure_job, target, [_send(a) for a in args],
                             {k: _send(v) for k, v in kwargs.items()}, backend, warmup, label, like,
                             timeout=timeout)
    except isolation.IsolationError as exc:
        raise MeterError(f"the isolated measurement failed: {exc}") from None
    try:
        return Measurement(**data)
    except TypeError:
        raise MeterError(f"the isolated measurement sent back something else: {str(data)[:200]}") from None


def _shipment(obj):
    try:
        return ship(obj, strict=True)
    except ShippingError as exc:
        raise MeterError(f"cannot send {getattr(obj, '__name__', obj)!r} to the isolated "
                         f"measurement: {exc}") from None


def _send(value):
    if isinstance(value, (types.FunctionType, type)) and in_notebook(value):
        return _shipment(value)
    return value


def _target(setup, source: str | None):
    """How the child finds setup: a name it imports, or code it lands (a Shipment, a Remote)."""
    if isinstance(setup, str):
        if ":" not in setup:
            raise ValueError("a setup given by name must read 'package.module:function'")
        return (setup, None)
    if hasattr(setup, "shipment"):                # the grader's Remote answer: its code
        return setup
    if not callable(setup):
        raise TypeError(f"setup must be a function, got {type(setup).__name__}")
    name = getattr(setup, "__name__", "")
    if source is not None:
        return ship_text(source, name)
    module = getattr(setup, "__module__", None) or "__main__"
    qual = getattr(setup, "__qualname__", name)
    if module != "__main__" and "<" not in qual:
        path = getattr(sys.modules.get(module), "__file__", None)
        if path:
            for _ in module.split("."):
                path = os.path.dirname(path)
        return (f"{module}:{qual}", path)
    return _shipment(setup)


def _measure_job(target, args, kwargs, backend, warmup, label, like) -> dict:
    """In the child: build the setup (landed there already, or imported by name) and measure it."""
    setup = resolve(*target) if isinstance(target, tuple) else target
    m = measure(build(setup, *args, like=like, **kwargs), warmup=warmup, backend=backend, label=label)
    return {**m.__dict__, "isolated": True}

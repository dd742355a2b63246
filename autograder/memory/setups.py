"""A setup function and what it returns, understood in one place, for every path that measures.

Part III grades a *setup*: a function that builds a model, its optimizer and data, and returns
the training step. The in-process checks, the fresh measuring process (`isolated`) and the
training loops all call `build`, so they accept the same returns and refuse the rest with the
same message: a check never reads `spec["model"]` of something that is not a dict.

Two forms. The meter's own: a callable step, a tuple (step, model, optimizer), or a dict with
keys step, model, optimizer (model and optimizer optional: they only split the peak by kind).
A graded one (`like=` names the course's baseline): a dict with the step, an `nn.Module` and a
`torch.optim` optimizer, as the baseline returns.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .backend import MeterError


@dataclass(frozen=True)
class Built:
    """What a setup built: the step to call, and the model and optimizer it trains (or None)."""
    step: Callable[[], Any]
    model: Any = None
    optimizer: Any = None


def resolve(name: str, path: str | None = None) -> Callable:
    """The function that "package.module:qualname" names, imported (`path`: a folder to import
    from, appended after site-packages so that it cannot shadow torch or the course)."""
    module, _, qual = name.partition(":")
    if not qual:
        raise ValueError("a setup given by name must read 'package.module:function'")
    if path and path not in sys.path:
        sys.path.append(path)
    obj: Any = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def call_text(setup, args=(), kwargs=None) -> str:
    """How a message names a call: `amp_setup(batch, seed)`."""
    who = setup.rpartition(":")[2] if isinstance(setup, str) else getattr(setup, "__name__", "setup")
    return f"{who}({', '.join([*(repr(a) for a in args), *(kwargs or {})])})"


def parse(spec, *, like: str | None = None, call: str = "setup") -> Built:
    """What a setup returned, as a Built; `like` (the baseline's name) asks for the graded form."""
    if like is not None:
        if not (isinstance(spec, dict) and callable(spec.get("step"))
                and isinstance(spec.get("model"), torch.nn.Module)
                and isinstance(spec.get("optimizer"), torch.optim.Optimizer)):
            raise AssertionError(f"{call} should return a dict with keys 'step', 'model' and "
                                 f"'optimizer' (a torch.optim optimizer), like {like}; got {spec!r:.200}")
        return Built(spec["step"], spec["model"], spec["optimizer"])
    if isinstance(spec, dict):
        step, model, optimizer = spec.get("step"), spec.get("model"), spec.get("optimizer")
    elif isinstance(spec, tuple):
        step, model, optimizer = (tuple(spec) + (None, None))[:3]
    else:
        step, model, optimizer = spec, None, None
    if not callable(step):
        raise MeterError(f"setup must return the step (a callable, a tuple (step, model, "
                         f"optimizer) or a dict), got {type(spec).__name__}")
    return Built(step, model, optimizer)


def build(setup: Callable | str, *args, like: str | None = None, **kwargs) -> Built:
    """setup(*args, **kwargs), parsed; `setup` may be a "package.module:function" name."""
    fn = resolve(setup) if isinstance(setup, str) else setup
    return parse(fn(*args, **kwargs), like=like, call=call_text(fn, args, kwargs))

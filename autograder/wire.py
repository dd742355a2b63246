"""Data between the grader and a student's process: JSON with arrays, never a pickle.

What a student's process hands back is read by the process that decides the grade, so it must be
data that cannot run code when read: `loads` builds only None, bools, numbers, strings, lists,
dicts, NumPy arrays and torch tensors (CPU), and refuses anything else. `dumps` encodes the same
kinds; a dataclass travels as its fields, and a function of an importable module (a course
function handed to a probe) as a reference "module:qualname", which only `loads(...,
references=True)` imports: the grader never resolves a reference a student's process wrote.

Known limitations: tensors come back on the CPU, detached, contiguous; a subclass of list, tuple
or dict comes back as the plain type.
"""
from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import math
from typing import Any

import numpy as np

MAX_BYTES = 256 * 2**20     # a student's reply larger than this is refused, unread


class WireError(ValueError):
    """What came over the wire is not data the course reads."""


def _encode(x) -> Any:
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, int):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else {"__float__": repr(x)}
    if isinstance(x, (np.integer, np.floating, np.bool_)):
        return _encode(x.item())
    if isinstance(x, list):
        return [_encode(v) for v in x]
    if isinstance(x, tuple):
        return {"__tuple__": [_encode(v) for v in x]}
    if isinstance(x, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in x.items()]}
    if isinstance(x, np.ndarray):
        return _array(np.ascontiguousarray(x), "numpy")
    if type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "numpy"):
        t = x.detach().cpu().contiguous()
        if str(t.dtype) == "torch.bfloat16":   # NumPy has no bfloat16: travel as its bits
            return {**_array(t.view(__import__("torch").int16).numpy(), "torch"), "bf16": True}
        return _array(t.numpy(), "torch")
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {"__fields__": _encode({f.name: getattr(x, f.name) for f in dataclasses.fields(x)})}
    if callable(x) and getattr(x, "__module__", None) and "<" not in getattr(x, "__qualname__", "<"):
        return {"__ref__": f"{x.__module__}:{x.__qualname__}"}
    raise WireError(f"cannot send a {type(x).__name__} as data")


def _array(a: np.ndarray, kind: str) -> dict:
    if a.dtype.hasobject:
        raise WireError("an array of Python objects is not data")
    return {"__array__": kind, "dtype": a.dtype.str, "shape": list(a.shape),
            "data": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode(x, references: bool) -> Any:
    if isinstance(x, list):
        return [_decode(v, references) for v in x]
    if not isinstance(x, dict):
        return x
    if "__float__" in x:
        return float(x["__float__"])
    if "__tuple__" in x:
        return tuple(_decode(v, references) for v in x["__tuple__"])
    if "__dict__" in x:
        return {_decode(k, references): _decode(v, references) for k, v in x["__dict__"]}
    if "__fields__" in x:
        return _decode(x["__fields__"], references)
    if "__array__" in x:
        dtype = np.dtype(x["dtype"])
        if dtype.hasobject:
            raise WireError("an array of Python objects is not data")
        a = np.frombuffer(base64.b64decode(x["data"]), dtype=dtype).reshape(x["shape"]).copy()
        if x["__array__"] == "torch":
            import torch
            t = torch.from_numpy(a)
            return t.view(torch.bfloat16) if x.get("bf16") else t
        return a
    if "__ref__" in x:
        if not references:
            raise WireError("a reference to code came back from a student's process")
        module, _, qual = x["__ref__"].partition(":")
        obj: Any = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
        return obj
    raise WireError(f"unknown object on the wire: keys {sorted(x)[:5]}")


def dumps(x) -> str:
    return json.dumps(_encode(x), allow_nan=False)


def loads(text: str | bytes, references: bool = False):
    """The data in `text`; `references=True` (course code reading what the grader wrote only)
    imports the functions it names."""
    if len(text) > MAX_BYTES:
        raise WireError(f"the reply is {len(text) / 2**20:.0f} MiB, more than {MAX_BYTES >> 20} MiB")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"the reply is not JSON: {exc}") from None
    return _decode(raw, references)

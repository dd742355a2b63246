"""Answers handed from the student's kernel to the grader, as data only.

`collect` runs in the student's kernel (sandboxed): each named notebook variable is written as
JSON: a function, class or Numba kernel as its code (`shipping.ship`), a string, a number, or a
list or tuple of those. It is the student's process, so it can write anything; `answers_from`,
in the grader, reads that file as JSON alone, accepts only these shapes, keeps the pickled plain
values a function uses as opaque bytes (they are unpickled only in a sandboxed child that runs the
code), and refuses an answer that is the course's own code (`own`: by an import of it, or by
its source, normalised).
"""
from __future__ import annotations

import base64
import json
import pickle
from pathlib import Path

from ..answers import Remote
from ..shipping import Shipment, ShippingError, in_notebook, ship
from . import own

PLAIN = (str, int, float, bool, type(None))


def _plain(v) -> bool:
    return isinstance(v, PLAIN) or (isinstance(v, (list, tuple)) and all(_plain(x) for x in v))


def _follow(v) -> bool:
    return in_notebook(getattr(v, "py_func", v))


def _entry(name: str, value) -> dict:
    if _plain(value):
        return {"value": value}
    if callable(value):
        try:
            try:
                s = ship(value, strict=True, follow=_follow)
            except ShippingError:
                s = ship(value, strict=False, follow=_follow)
        except ShippingError as exc:
            return {"missing": f"{name} cannot be sent to the grader: {exc}"}
        origin = getattr(getattr(value, "py_func", value), "__module__", None)
        return {"code": {"name": s.name, "origin": origin, "blocks": s.blocks, "modules": s.modules,
                         "imports": s.imports, "values": base64.b64encode(pickle.dumps(s.values)).decode()}}
    return {"missing": f"{name} is a {type(value).__name__}; the check takes a function, a kernel, "
                       "a string or a number"}


def collect(names: list[str], path: str) -> None:
    """In the student's kernel: the named answers of the notebook, written to `path` as JSON."""
    import __main__
    scope = vars(__main__)
    out = {n: _entry(n, scope[n]) if n in scope else {"missing": f"{n} is not defined: run its cell"}
           for n in names}
    Path(path).write_text(json.dumps(out))


def answers_from(raw, names: list[str]) -> dict:
    """In the grader: each name as a plain value, a Remote (its code), or an exception to raise."""
    out = {}
    for n in names:
        entry = raw.get(n) if isinstance(raw, dict) else None
        try:
            out[n] = _answer(n, entry, names)
        except AssertionError as exc:           # missing, or refused: the check fails with it
            out[n] = exc
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            out[n] = AssertionError(f"{n} could not be read from the notebook: {exc}")
    return out


def _answer(name: str, entry, answer_names=()):
    if not isinstance(entry, dict):
        raise AssertionError(f"{name} was not found in the notebook: run its cell before the check")
    if "missing" in entry:
        raise AssertionError(str(entry["missing"]))
    if "value" in entry:
        v = entry["value"]
        if not _plain(v):
            raise ValueError("not a plain value")
        return v
    code = entry["code"]
    blocks = [(str(a), str(b), int(c)) for a, b, c in code["blocks"]]
    modules = {str(k): str(v) for k, v in code["modules"].items()}
    imports = {str(k): (str(m), str(q)) for k, (m, q) in code["imports"].items()}
    shipment = Shipment(str(code["name"]), blocks, modules, imports)
    shipment.packed = base64.b64decode(code["values"])          # unpickled only where it runs
    if not blocks:
        raise ValueError("no code")
    texts = [t for _, t, _ in blocks]
    origin = str(code.get("origin") or "")
    course = (origin if origin.split(".")[0] == "autograder" else None) or \
        own.imports_course_answer(shipment.name, texts, imports, modules) or \
        next(filter(None, (own.course_copy(t, answer_names) for t in texts)), None)
    if course:
        raise AssertionError(f"{name} is the course's own code ({course}), not yours: the exercise "
                             "asks you to write it (a page's demo shows the idea; write your own)")
    return Remote(shipment)

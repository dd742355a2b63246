"""A student's answer as a check meets it: live in the notebook, or held as code by the grader.

`answer_int` words the same mistake the same way in every chapter. `Remote` is the grader's form
of an answer (its code, run only in sandboxed children) and `probe` the one way a check runs a
setup to learn about it, so that a check written once works in the notebook and in the grader.
"""
from __future__ import annotations

from . import isolation
from .shipping import Shipment


def answer_int(value, what: str) -> int:
    """A student's byte count as an int (NumPy's integers too), or a failed check that says
    what came back instead: a float of bytes is a sign of a formula gone wrong."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np
            if isinstance(value, np.integer):
                return int(value)
        except ImportError:
            pass
        raise AssertionError(f"{what} should return an int (bytes), got {value!r:.100}")
    return value


class Remote:
    """A student's answer as the grader holds it: the code (a `Shipment`), never the live object.

    Calling it runs the function in a fresh sandboxed process on the arguments (data) and hands
    back the result (data); `probe` runs a course function on it there; kernel runners and the
    memory meter take it where they take a function, and send its code to their own children.
    """

    def __init__(self, shipment: Shipment):
        self.shipment = shipment
        self.__name__ = self.__qualname__ = shipment.name

    def __repr__(self) -> str:
        return f"<the student's {self.shipment.name}>"

    def __call__(self, *args, **kwargs):
        return isolation.run(_call, self, *args, **kwargs)


def _call(fn, *args, **kwargs):
    """In the child: the student's function on the grader's arguments."""
    return fn(*args, **kwargs)


def each(answer, calls, keywords=None):
    """answer(*args, **kw) for each `args` of `calls` (and `kw` of `keywords`, if given), in order,
    as a generator. A `Remote` answer makes all its calls in one fresh process (a process per
    call cost ch01's hidden checks 92 forks, doubling its grading time); where one raised there,
    that call is made again on its own, so that it raises here as the call itself would."""
    calls = [(tuple(a), dict(k)) for a, k in zip(calls, keywords or [{}] * len(calls))]
    if not isinstance(answer, Remote):
        for args, kw in calls:
            yield answer(*args, **kw)
        return
    values = isolation.run(_each, answer, calls)
    yield from values
    if len(values) < len(calls):
        args, kw = calls[len(values)]
        answer(*args, **kw)
        raise AssertionError(f"{answer.__name__}{args} raised among the other calls, not alone: "
                             "an answer must not depend on the calls before it")


def _each(fn, calls):
    """In the child: the answer on each call's arguments, up to the first that raises."""
    out = []
    for args, kw in calls:
        try:
            out.append(fn(*args, **kw))
        except Exception:
            break
    return out


def probe(answer, fn, *args, **kwargs):
    """fn(answer, *args, **kwargs): how a check runs a student's setup (or any answer that is not
    a plain function of data) to learn something about it; `fn` is a module-level function of the
    course that returns data (numbers, strings, lists, dicts, arrays, CPU tensors).

    For the student's live answer (the feedback a check gives in the notebook) it is a plain
    call; for a `Remote` one (grading) it runs in a fresh sandboxed process, handing back only
    the data, so that no student code runs in the process that decides the grade.
    """
    if isinstance(answer, Remote):
        return isolation.run(fn, answer, *args, **kwargs)
    return fn(answer, *args, **kwargs)

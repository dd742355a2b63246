"""What a student's answer must be before a check reads it: a message, not a TypeError later.

Shared by the chapters' checks (visible and hidden), so that every chapter words the same
mistake the same way.
"""
from __future__ import annotations


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


def probe(answer, fn, *args, **kwargs):
    """fn(answer, *args, **kwargs): how a check runs a student's setup (or any answer that is not
    a plain function of data) to learn something about it; `fn` is a module-level function of the
    course that returns data (numbers, strings, lists, dicts, arrays, CPU tensors).

    Here it is a plain call, for the feedback a check gives in the notebook. At grading time the
    answer is the student's code held in a sandbox, and the same call runs `fn` there, in a fresh
    process, handing back only the data (see grading/), so that a check never runs a student's
    code in the process that decides the grade.
    """
    return fn(answer, *args, **kwargs)

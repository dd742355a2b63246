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

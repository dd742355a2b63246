"""Grading: loading a chapter's checks afresh, the nbgrader preprocessors, release, GPU recording.

The layer above `kernels/` and `memory/`, below the chapters: it may import either, and no
chapter module imports it for anything but these helpers.
"""
from ..answers import answer_int  # noqa: F401  (moving: chapters import it from answers)
from .fresh import fresh, replaced, setup_spec  # noqa: F401

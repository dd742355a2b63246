"""Grading: loading a chapter's checks afresh, the nbgrader preprocessors, release, GPU recording.

The layer above `kernels/` and `memory/`, below the chapters.
"""
from .fresh import fresh, replaced  # noqa: F401

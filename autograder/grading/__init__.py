"""Grading: the verdict decided outside the student's code, the sandbox, nbgrader's preprocessors,
release and GPU recording.

The layer above `kernels/` and `memory/`, below the chapters.
"""

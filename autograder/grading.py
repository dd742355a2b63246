"""What the hidden tests call at grading time, kept out of a student's reach where we can.

A student's notebook runs in the same kernel as the tests that grade it, so an answer cell
could replace `autograder.ch01_cpu_vs_gpu.check_bytes` with a function that passes
everything. `fresh(slug)` loads the chapter's checks module again from its file, under a
private name, so such a replacement does not reach the hidden tests.

Known limitations: a submission that patches Python itself (builtins, importlib) or the
libraries a check uses can still interfere; the memory meter's isolated subprocess path is
the stronger guard, used where a figure is graded.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fresh(slug: str):
    """The checks module of chapter `slug`, loaded anew from its file."""
    path = HERE / f"{slug}.py"
    if not path.is_file():
        raise ValueError(f"no checks module for chapter {slug!r} at {path}")
    name = f"autograder._fresh_{slug}"
    spec = importlib.util.spec_from_file_location(name, path,
                                                  submodule_search_locations=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "autograder"
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

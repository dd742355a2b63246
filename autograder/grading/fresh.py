"""What the hidden tests call at grading time, kept out of a student's reach where we can.

A student's notebook runs in the same kernel as the tests that grade it, so an answer cell
could replace `autograder.ch01_cpu_vs_gpu.check_bytes` with a function that passes
everything. `fresh(slug)` loads the chapter's checks module again from its file, under a
private name, so such a replacement does not reach the hidden tests; and it refuses to grade
when a function, a class or a class's method of the course's other modules (the meter, the
kernel runners) has been replaced, since the fresh module would call those.

Known limitations: a submission that patches Python itself (builtins, importlib), a class's
data attributes, or the libraries a check uses can still interfere; the memory meter's isolated
subprocess path is the stronger guard, used where a figure is graded.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import inspect
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]   # autograder/


@functools.lru_cache(maxsize=None)
def _defined(path: str) -> frozenset[str]:
    """Names a module's source defines at top level with `def` or `class`."""
    tree = ast.parse(Path(path).read_text())
    return frozenset(n.name for n in tree.body
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))


def replaced() -> list[str]:
    """Functions and classes of the shared course modules that no longer come from their file.

    Chapter modules are left out: `fresh` reloads those, so replacing them changes nothing.
    """
    found = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not (name.startswith("autograder.") and file) or re.match(r"autograder\.(_fresh_|ch\d\d_)", name):
            continue
        for attr in _defined(file):
            value = getattr(module, attr, None)
            code = getattr(inspect.unwrap(value), "__code__", None) if callable(value) else None
            if isinstance(value, type):
                if value.__module__ != name:
                    found.append(f"{name}.{attr}")
                found += [f"{name}.{attr}.{m}" for m in _replaced_methods(value, file)]
            elif not (code is not None and _same_file(code.co_filename, file)):
                found.append(f"{name}.{attr}")
    return found


def _same_file(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _replaced_methods(cls: type, file: str) -> list[str]:
    """Methods of `cls` whose code is not from `file` (`meter._Zygote.run = fake` is as good as
    replacing `measure_isolated`), bar those `dataclasses` writes for a dataclass."""
    generated = dataclasses.is_dataclass(cls)
    found = []
    for attr, value in vars(cls).items():
        fn = inspect.unwrap(value.__func__ if isinstance(value, (classmethod, staticmethod)) else value)
        code = getattr(fn, "__code__", None)
        if code is None or _same_file(code.co_filename, file):
            continue
        if generated and code.co_filename == "<string>" and attr.startswith("__"):
            continue
        found.append(attr)
    return found


def setup_spec(setup, who: str, like: str, **kw) -> dict:
    """setup(**kw), checked to be what a chapter grades a step from (a dict with the step, the
    model and the optimizer): a message naming what came back instead of a KeyError later."""
    import torch
    spec = setup(**kw)
    if not (isinstance(spec, dict) and callable(spec.get("step"))
            and isinstance(spec.get("model"), torch.nn.Module)
            and isinstance(spec.get("optimizer"), torch.optim.Optimizer)):
        raise AssertionError(f"{who}({', '.join(kw)}) should return a dict with keys 'step', 'model' "
                             f"and 'optimizer' (a torch.optim optimizer), like {like}; got {spec!r:.200}")
    return spec


def fresh(slug: str):
    """The checks module of chapter `slug`, loaded anew from its file."""
    path = PACKAGE / f"{slug}.py"
    if not path.is_file():
        raise ValueError(f"no checks module for chapter {slug!r} at {path}")
    if bad := replaced():
        raise AssertionError(f"replaced in this notebook: {', '.join(bad)}. The hidden tests "
                             "refuse to grade with course code replaced; restart the kernel and "
                             "run the notebook without the cell that replaces it.")
    name = f"autograder._fresh_{slug}"
    spec = importlib.util.spec_from_file_location(name, path,
                                                  submodule_search_locations=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "autograder"
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

"""What the hidden tests call at grading time, kept out of a student's reach where we can.

A student's notebook runs in the same kernel as the tests that grade it, so an answer cell
could replace `autograder.ch01_cpu_vs_gpu.check_bytes` with a function that passes
everything. `fresh(slug)` loads the chapter's checks module again from its file, under a
private name, so such a replacement does not reach the hidden tests; and it refuses to grade
when anything of the course that the fresh module would call has been replaced: a function,
a class or a class's method of a shared module (the meter, the kernel runners, a shared
workload), a name one module takes from another (`memory.measure` is `memory.meter.measure`),
or a constant of a shared module. A chapter module's own functions are not refused: the fresh
copy calls its own, and no chapter imports another, so a replaced one reaches no hidden check.

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
_MISSING = object()


@dataclasses.dataclass(frozen=True)
class _Expected:
    """What a module's file says its top level holds."""
    defined: frozenset[str]                          # def and class names
    taken: tuple[tuple[str, str, str | None], ...]   # (alias, course module, name in it or None)
    constants: tuple[tuple[str, object], ...]        # NAME = immutable literal


def _origin(node: ast.ImportFrom, modname: str, is_package: bool) -> str | None:
    if node.level == 0:
        return node.module
    base = modname.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@functools.lru_cache(maxsize=None)
def _expected(path: str, modname: str) -> _Expected:
    tree = ast.parse(Path(path).read_text())
    is_package = Path(path).name == "__init__.py"
    defined, taken, constants = set(), [], []
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(n.name)
        elif isinstance(n, ast.ImportFrom):
            origin = _origin(n, modname, is_package)
            if origin and (origin == "autograder" or origin.startswith("autograder.")):
                taken += [(a.asname or a.name, origin, a.name) for a in n.names if a.name != "*"]
        elif isinstance(n, ast.Import):
            taken += [(a.asname, a.name, None) for a in n.names
                      if a.asname and a.name.startswith("autograder.")]
        elif (isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)):
            try:
                value = ast.literal_eval(n.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            if _immutable(value):    # a dict or list may be filled at run time by design
                constants.append((n.targets[0].id, value))
    return _Expected(frozenset(defined), tuple(taken), tuple(constants))


def _immutable(v) -> bool:
    return isinstance(v, (int, float, complex, str, bytes, type(None))) or (
        isinstance(v, tuple) and all(_immutable(x) for x in v))


def replaced() -> list[str]:
    """What of the course's shared modules no longer is what their files define or import.

    Chapter modules and the fresh copies `fresh` makes of them are left out: a fresh copy
    calls its own functions, and no chapter imports another.
    """
    found = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not (name.startswith("autograder.") and file) or re.match(r"autograder\.(_fresh_|ch\d\d_)", name):
            continue
        exp = _expected(file, name)
        for attr in exp.defined:
            value = getattr(module, attr, None)
            code = getattr(inspect.unwrap(value), "__code__", None) if callable(value) else None
            if isinstance(value, type):
                if value.__module__ != name:
                    found.append(f"{name}.{attr}")
                found += [f"{name}.{attr}.{m}" for m in _replaced_methods(value, file)]
            elif not (code is not None and _same_file(code.co_filename, file) and code.co_name == attr):
                found.append(f"{name}.{attr}")       # another function, or one from another file
        for alias, origin, attr in exp.taken:
            source = sys.modules.get(origin)
            if source is None:
                continue
            want = source if attr is None else getattr(source, attr, sys.modules.get(f"{origin}.{attr}", _MISSING))
            if getattr(module, alias, _MISSING) is not want:
                found.append(f"{name}.{alias}")
        found += [f"{name}.{c}" for c, v in exp.constants if not _equal(getattr(module, c, _MISSING), v)]
    return sorted(set(found))


def _equal(a, b) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


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

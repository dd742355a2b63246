"""The package's architecture, checked: layers import only downwards, no chapter imports another,
and no import goes in a circle (function-local imports count: they run too)."""
import ast
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "autograder"
CORE = {"autograder", "autograder.lifetime", "autograder.device", "autograder.results", "autograder.answers",
        "autograder.shipping", "autograder.notebook", "autograder.widgets", "autograder.isolation",
        "autograder.wire", "autograder.children"}
# layer -> the layers it may import (itself included where its modules import each other)
ALLOWED = {
    "core": {"core"},
    "kernels": {"core", "kernels"},
    "memory": {"core", "memory"},
    "grading": {"core", "kernels", "memory", "grading"},
    "chapter": {"core", "kernels", "memory", "grading"},
}


def layer(module: str) -> str:
    if module in CORE:
        return "core"
    part = module.split(".")[1]
    if part in ("kernels", "memory", "grading"):
        return part
    if part[:2] == "ch" and part[2:4].isdigit():
        return "chapter"
    raise AssertionError(f"{module} belongs to no layer: put it in core (and in CORE here), "
                         "kernels/, memory/, grading/, or make it a chapter chNN_<name>")


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    found = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts[:-1]) if rel.name == "__init__" else list(rel.parts)
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict) -> set[str]:
    """Course modules that `name` imports anywhere in its file, resolved to module names."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [(origin, a.name) for a in node.names]
        else:
            continue
        for origin, attr in targets:
            if attr and f"{origin}.{attr}" in known:
                out.add(f"{origin}.{attr}")       # a submodule
            elif origin in known:
                out.add(origin)
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {n: imports(n, p, known) for n, p in known.items()}


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def violations(g: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, targets in sorted(g.items()):
        for dst in sorted(targets):
            a, b = layer(src), layer(dst)
            if a == b == "chapter":
                bad.append(f"{src} imports another chapter, {dst}")
            elif b not in ALLOWED[a]:
                bad.append(f"{src} ({a}) imports {dst} ({b})")
    return bad


def test_layers_import_only_downwards_and_no_chapter_imports_another():
    assert violations(graph()) == []


def test_no_import_goes_in_a_circle():
    assert circles(graph()) == []


def test_no_chapter_module_outside_the_naming_rule():
    for name in modules():
        layer(name)          # raises with a message for a module of no layer


@pytest.mark.parametrize("files, wrong", [
    ({"autograder/__init__.py": "", "autograder/kernels/__init__.py": "from .run import x",
      "autograder/kernels/run.py": "from . import checks", "autograder/kernels/checks.py": "from .run import y"},
     "autograder.kernels.checks, autograder.kernels.run"),
    ({"autograder/__init__.py": "", "autograder/memory/__init__.py": "",
      "autograder/memory/meter.py": "from ..kernels import launch", "autograder/kernels/__init__.py": "",
      "autograder/kernels/launch.py": ""}, "meter (memory) imports autograder.kernels.launch (kernels)"),
    ({"autograder/__init__.py": "", "autograder/ch10_x.py": "def f():\n    from .ch06_y import g",
      "autograder/ch06_y.py": ""}, "ch10_x imports another chapter, autograder.ch06_y"),
    ({"autograder/__init__.py": "", "autograder/device.py": "from .grading import fresh",
      "autograder/grading/__init__.py": "", "autograder/grading/fresh.py": ""}, "device (core) imports autograder.grading.fresh (grading)"),
])
def test_the_checks_catch_what_they_look_for(tmp_path, files, wrong):
    """Each rule fails on a small package that breaks it, a function-local import included."""
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    known = modules(tmp_path / "autograder")
    g = {n: imports(n, p, known) for n, p in known.items()}
    found = [", ".join(c) for c in circles(g)] + violations(g)
    assert any(wrong in f for f in found), found

"""Is an answer the course's own code? Decided in the grader, from the source text handed back.

A notebook may import a course function and hand it in as its answer, or paste its source with
the names changed. `collect` refuses an answer whose object comes from the package (its module);
`imports_course_answer` catches an answer that imports the course's object of its own name, or
calls `module.<its name>` on a course module; `course_copy(text, names)` compares each top-level
function and class an answer ships with the course's own answers to the exercises (the chapter
modules' functions named like an answer), after normalising both: docstrings, annotations,
decorators and the function's own name dropped, local names and arguments renamed in order of
appearance, formatting gone (the syntax tree).

Known limitations: answers shorter than a few lines (MIN_NODES) are not compared, since honest
ones coincide with the course's; an answer that reaches a course function by a name computed at
run time (`getattr(module, "amp" + "_setup")`), forges its module in the notebook, or reorders
statements is not recognised; the exercises' defence there is to ask for a case the package does
not implement.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]      # autograder/
MIN_NODES = 60     # a body this large is not written twice the same by chance (a few lines)


class _Canonical(ast.NodeTransformer):
    """Local names (arguments and anything assigned) renamed v0, v1, ... by first appearance."""

    def __init__(self, local: set[str]):
        self.local, self.names = local, {}

    def _name(self, n: str) -> str:
        if n not in self.local:
            return n
        return self.names.setdefault(n, f"v{len(self.names)}")

    def visit_Name(self, node):
        node.id = self._name(node.id)
        return node

    def visit_arg(self, node):
        node.arg, node.annotation = self._name(node.arg), None
        return node


def _locals(fn: ast.AST) -> set[str]:
    out = set()
    for n in ast.walk(fn):
        if isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
    return out


def normalised(node: ast.AST) -> str:
    """A function's or class's syntax tree with what a copy would change taken out."""
    node = ast.parse(ast.unparse(node)).body[0]          # a copy, positions dropped
    for n in ast.walk(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = n.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                n.body = body[1:] or [ast.Pass()]
            n.name, n.decorator_list = "_", []
            if not isinstance(n, ast.ClassDef):
                n.returns = None
        elif isinstance(n, ast.AnnAssign):
            n.annotation = ast.Constant(None)
    node = _Canonical(_locals(node)).visit(node)
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def _top(tree: ast.Module):
    return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def _size(n: ast.AST) -> int:
    body = n.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return sum(1 for b in body for _ in ast.walk(b))


@functools.lru_cache(maxsize=1)
def _chapter_functions() -> dict[str, list[tuple[str, ast.AST]]]:
    """name -> [(module, node)] of every top-level function and class of the chapter modules
    (autograder/chNN_*.py), where the course's own answers to its exercises live; those of
    fewer than MIN_NODES nodes left out: an honest `return 3 * n * itemsize` is the same tree
    as the course's, and must not be refused."""
    out: dict[str, list[tuple[str, ast.AST]]] = {}
    for f in sorted(PACKAGE.glob("ch[0-9][0-9]_*.py")):
        for n in _top(ast.parse(f.read_text())):
            if _size(n) >= MIN_NODES:
                out.setdefault(n.name, []).append((f"autograder.{f.stem}", n))
    return out


@functools.lru_cache(maxsize=None)
def _course_trees(name: str) -> dict[str, str]:
    """normalised tree -> module, of the course's functions called `name` (normalised only when
    an answer of that name is compared: all of them took a grader seconds per notebook)."""
    return {normalised(n): module for module, n in _chapter_functions().get(name, ())}


def course_copy(text: str, names) -> str | None:
    """'module:name' where `text` defines again (under any name) the course's own function or
    class called like one of the answers `names`, or None. Only those: a notebook may well
    hold the chapter's given baseline code, which the package has too."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    wanted = [name for name in names if name in _chapter_functions()]
    if not wanted:
        return None
    for n in _top(tree):
        shipped = normalised(n)
        for name in wanted:
            if shipped in _course_trees(name):
                return f"{_course_trees(name)[shipped]}:{name}"
    return None


def imports_course_answer(name: str, texts: list[str], imports: dict, modules: dict) -> str | None:
    """'module:name' where an answer called `name` takes the course's object of that name by an
    import (the shipment's own, or one inside its code), or None."""
    for alias, (module, qualname) in imports.items():
        if module.split(".")[0] == "autograder" and (qualname == name or alias == name):
            return f"{module}:{qualname}"
    if name in modules:
        return f"{modules[name]}"
    course = lambda m: m.split(".")[0] == "autograder"      # noqa: E731
    aliases = {**{a: m for a, m in modules.items() if course(m)},
               **{a: f"{m}.{q}" for a, (m, q) in imports.items() if course(m)}}
    for text in texts:
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and course(n.module or "") and any(a.name == name for a in n.names):
                return f"{n.module}:{name}"
            if isinstance(n, ast.Attribute) and n.attr == name and isinstance(n.value, ast.Name) \
                    and n.value.id in aliases:                  # ch07.amp_setup(...)
                return f"{aliases[n.value.id]}:{name}"
    return None

"""A graded test cell read as data: which checks it calls, on which answers.

The grader never runs a test cell in the student's kernel; it reads it. Every statement is an
import (run in the kernel, so that later cells still find the names) or a call of a check:
`check_x(answer, ..., name="vector_add", hidden=True)` (or `module.check_x(...)`). Arguments are
bare names of notebook variables (the answers, fetched
from the kernel as data) or literals. Anything else is refused, so a cell's meaning cannot depend
on what the notebook did.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class CheckCall:
    function: str                              # the chapter's check function
    args: tuple                                # ("name", x) for an answer, ("value", v) for a literal
    kwargs: tuple                              # (keyword, ("name" | "value", ...))

    def names(self) -> list[str]:
        return [v for kind, v in (*self.args, *(a for _, a in self.kwargs)) if kind == "name"]

    def bind(self, answers: dict) -> tuple[list, dict]:
        """The call's arguments, with each answer's name replaced by the answer the kernel gave."""
        def value(arg):
            kind, v = arg
            if kind == "value":
                return v
            found = answers[v]
            if isinstance(found, Exception):
                raise found
            return found
        return [value(a) for a in self.args], {k: value(a) for k, a in self.kwargs}


def _arg(node: ast.expr):
    if isinstance(node, ast.Name):
        return ("name", node.id)
    try:
        return ("value", ast.literal_eval(node))
    except ValueError:
        raise ValueError(f"`{ast.unparse(node)}` is neither a name nor a literal") from None


def _check_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def parse_cell(source: str) -> tuple[str, list[CheckCall]]:
    """(the cell's import statements, as source; its check calls, in order)."""
    tree = ast.parse(source)
    imports, calls = [], []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            imports.append(ast.unparse(stmt))
            continue
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
            raise ValueError(f"`{ast.unparse(stmt)[:80]}` is not a check call")
        call = stmt.value
        name = _check_name(call.func)
        if not (name and name.startswith("check_")):
            raise ValueError(f"`{ast.unparse(call.func)}` is not a check function")
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            raise ValueError("a check call takes no *args or **kwargs")
        calls.append(CheckCall(name, tuple(_arg(a) for a in call.args),
                               tuple((k.arg, _arg(k.value)) for k in call.keywords)))
    if not calls:
        raise ValueError("no check call in the cell")
    return "\n".join(imports), calls

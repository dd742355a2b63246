"""Notebook code sent to another process as text: the one way the course ships a student's code.

A kernel runs in a simulator subprocess, a setup in a fresh measuring process: neither can
receive a notebook function by pickle (it lives in `__main__`, which the child lacks). `ship`
reads the function's source and follows the names it uses: a module becomes an import, a
notebook function or class (or, where `follow` says so, any function) is shipped by source
too, a function or class from an importable module becomes `from module import name`, and a
plain value travels pickled. `land` runs it all in a fresh namespace in the child, with the
original line numbers, so that a traceback points at the line the student wrote.

Known limitations: lambdas and closures over local variables cannot be shipped (define them at
the top level of the notebook); a value that does not pickle is refused (`strict=True`) or
left out; code that reads a global only through `globals()` or `eval` is not followed.
"""
from __future__ import annotations

import ast
import builtins
import dis
import inspect
import linecache
import pickle
import re
import sys
import textwrap
import types
from dataclasses import dataclass, field
from typing import Any, Callable


class ShippingError(ValueError):
    """The code cannot be sent to another process; the message says what to change."""


@dataclass
class Shipment:
    """A function and what it needs, as text and plain values; it pickles."""
    name: str
    blocks: list[tuple[str, str, int]] = field(default_factory=list)  # (file label, text, first line)
    modules: dict[str, str] = field(default_factory=dict)             # alias -> module name
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)  # alias -> (module, qualname)
    values: dict[str, Any] = field(default_factory=dict)              # plain globals, pickled
    packed: bytes | None = None        # the values, still pickled: how the grader holds a student's

    def files(self) -> list[str]:
        """The file name of each block in the child, as tracebacks and `linecache` show it."""
        return [label if label.startswith("<") else f"<{label}>" for label, _, _ in self.blocks]

    def text(self) -> str:
        """All of it as one Python source text (for reading, or for `source=` arguments)."""
        head = [f"import {m}" if a == m else f"import {m} as {a}" for a, m in self.modules.items()]
        head += [f"from {m} import {q} as {a}" for a, (m, q) in self.imports.items()]
        head += [f"{a} = {v!r}" for a, v in self.values.items()]
        return "\n".join(head + [t for _, t, _ in self.blocks])


def _code_names(code: types.CodeType, top: bool = True) -> set[str]:
    """Names a code object (and the functions nested in it) reads from its globals, and a
    closure's free variables. Not attribute names, nor an enclosing function's locals: a
    notebook global that merely shares such a name would travel too, and a measuring child
    would count its bytes."""
    names = {i.argval for i in dis.get_instructions(code)
             if i.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS")}
    if top:
        names |= set(code.co_freevars)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _code_names(c, top=False)
    return names


def _outer_names(src: str) -> set[str]:
    """Names a definition reads outside its function bodies: decorators, bases, class attributes."""
    node = ast.parse(src).body[0]
    parts = list(getattr(node, "decorator_list", []))
    if isinstance(node, ast.ClassDef):
        parts += node.bases + [k.value for k in node.keywords]
        parts += [b for b in node.body if not isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef))]
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        parts += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
    return {n.id for p in parts for n in ast.walk(p) if isinstance(n, ast.Name)}


def _source(obj) -> tuple[str, str, int]:
    """(file label, dedented source, first line) of a function or class. A notebook class is found
    through the cell file of one of its methods: `inspect` would look in __main__'s file."""
    if isinstance(obj, type):
        for f in vars(obj).values():
            code = getattr(getattr(f, "__func__", f), "__code__", None)
            if code is None:
                continue
            lines = linecache.getlines(code.co_filename)
            pat = re.compile(rf"^\s*class\s+{obj.__name__}\b")
            for i in range(min(code.co_firstlineno, len(lines)) - 1, -1, -1):
                if pat.match(lines[i]):
                    return obj.__name__, textwrap.dedent("".join(inspect.getblock(lines[i:]))), i + 1
    try:   # by its code: inspect would follow a decorator's __wrapped__ to another function
        lines, start = inspect.getsourcelines(getattr(obj, "__code__", obj))
    except (OSError, TypeError) as exc:
        raise ShippingError(f"cannot read the source of {getattr(obj, '__name__', obj)!r} ({exc}); "
                            "pass the source text instead") from None
    return _bound_name(obj), textwrap.dedent("".join(lines)), max(int(start), 1)


def _bound_name(obj) -> str:
    """The name a function's `def` (or a class's `class`) statement binds."""
    code = getattr(obj, "__code__", None)
    return code.co_name if code is not None else obj.__name__


def in_notebook(obj) -> bool:
    """Defined in a notebook (or a script run as __main__): only its source can reach a child."""
    return getattr(obj, "__module__", None) in ("__main__", None)


def ship(obj, *, strict: bool = True, follow: Callable[[Any], bool] = in_notebook) -> Shipment:
    """`obj` (a function, a class, or anything with `py_func`, as a Numba kernel has) as a Shipment.

    `follow(value)` says which functions and classes it uses travel by source (default: those
    defined in the notebook); the others must be importable by module and name. `strict`:
    refuse a global that cannot travel (else leave it out, for the child to report).
    """
    py = getattr(obj, "py_func", obj)
    if not isinstance(py, (types.FunctionType, type)):
        raise ShippingError(f"expected a function, got {type(obj).__name__}")
    if py.__name__ == "<lambda>" or (isinstance(py, types.FunctionType) and py.__code__.co_freevars):
        raise ShippingError(f"{py.__name__} is a lambda or a closure: define it at the top level "
                            "of the notebook")
    out, seen = Shipment(_bound_name(py)), set()

    def visit(o) -> None:
        o = getattr(o, "py_func", o)
        if id(o) in seen:
            return
        seen.add(id(o))
        label, text, start = _source(o)
        if isinstance(o, type):
            funcs = [f for f in (getattr(v, "__func__", v) for v in vars(o).values())
                     if isinstance(f, types.FunctionType)]
            scope = dict(funcs[0].__globals__ if funcs else vars(sys.modules.get(o.__module__, builtins)))
        else:
            funcs, scope = [o], dict(o.__globals__)
            try:
                scope.update(inspect.getclosurevars(o).nonlocals)
            except (TypeError, ValueError):
                pass
        names = _outer_names(text).union(*(_code_names(f.__code__) for f in funcs))
        for n in sorted(names):
            if n in scope and n not in out.modules and n not in out.imports and n not in out.values:
                take(n, scope[n])
        out.blocks.append((label, text, start))

    def take(n: str, v) -> None:
        if isinstance(v, types.ModuleType):
            out.modules[n] = v.__name__
            return
        target = getattr(v, "py_func", v)
        if isinstance(target, (types.FunctionType, type)) and follow(v):
            visit(v)
            if _bound_name(target) != n:            # an alias: `_right = crossover`
                out.blocks.append((f"<alias {n}>", f"{n} = {_bound_name(target)}\n", 1))
            return
        module, qual = getattr(v, "__module__", None), getattr(v, "__qualname__", None)
        if callable(v) and module and qual and "<" not in qual and module != "__main__":
            out.imports[n] = (module, qual)
            return
        try:
            pickle.dumps(v)
        except Exception:
            if strict:
                raise ShippingError(f"cannot send the global {n!r} ({type(v).__name__}) to another "
                                    "process: build it inside the function, or pass it as an argument") from None
            return
        out.values[n] = v

    visit(obj)
    return out


def ship_text(text: str, name: str) -> Shipment:
    """Source text that defines `name`, as a Shipment (a syntax error is reported in the child)."""
    return Shipment(name, [("<source>", text, 1)])


def land(shipment: Shipment, namespace: dict | None = None,
         transform: Callable[[ast.Module], ast.Module] | None = None) -> dict:
    """In the child: run the shipment in a fresh namespace (or `namespace`), keeping line numbers,
    and return that namespace; `transform` may rewrite each block's syntax tree first."""
    import importlib
    ns = {"__name__": "__shipped__", "__builtins__": builtins} if namespace is None else namespace
    for alias, module in shipment.modules.items():
        try:
            ns[alias] = importlib.import_module(module)
        except ImportError:
            pass                    # a NameError at the line that uses it says more than this would
    for alias, (module, qual) in shipment.imports.items():
        obj: Any = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
        ns[alias] = obj
    ns.update(pickle.loads(shipment.packed) if shipment.packed is not None else shipment.values)
    for filename, (_, text, start) in zip(shipment.files(), shipment.blocks):
        padded = "\n" * (start - 1) + text
        linecache.cache[filename] = (len(padded), None, padded.splitlines(True), filename)
        tree = ast.parse(padded, filename)
        if transform is not None:
            tree = ast.fix_missing_locations(transform(tree))
        exec(compile(tree, filename, "exec"), ns)
    return ns

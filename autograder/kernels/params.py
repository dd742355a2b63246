"""A CUDA C kernel's declared parameters, and whether each scalar takes what the runner passes.

`cupy.RawKernel` copies each scalar argument as its own bytes: np.int32 as 4 bytes, np.float32
as 4, a Python int as an 8-byte integer, a Python float as an 8-byte double. The kernel reads
its parameter as declared, so `size_t n` fed np.int32(n) reads 4 bytes of garbage above n on a
GPU, and `double alpha` fed np.float32 reads a different number. The CPU shim would convert
the value and hide the bug, so every launch's scalars are checked against the declaration
first, on every backend, with a message that says what to change.

The declaration's types come from NVRTC's PTX where NVRTC ran (exact: typedefs and macros are
resolved), else from the source text (the usual C types and <stdint.h> names).

Known limitations: a struct or vector parameter (float2 ...) is not judged; nor is signedness
(an `unsigned int` fed np.int32 reads the same bytes).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import ArgumentTypeError

# Scalar C types by (kind, bytes): "i" integer, "f" floating point, "b" bool; LP64 as on Linux.
_TYPES = {
    "char": ("i", 1), "signed char": ("i", 1), "unsigned char": ("i", 1), "bool": ("b", 1),
    "short": ("i", 2), "unsigned short": ("i", 2), "int": ("i", 4), "unsigned": ("i", 4),
    "unsigned int": ("i", 4), "long": ("i", 8), "unsigned long": ("i", 8), "long long": ("i", 8),
    "unsigned long long": ("i", 8), "size_t": ("i", 8), "ptrdiff_t": ("i", 8), "ssize_t": ("i", 8),
    "float": ("f", 4), "double": ("f", 8),
    **{f"{u}int{b}_t": ("i", b // 8) for u in ("", "u") for b in (8, 16, 32, 64)},
}
_QUALIFIERS = re.compile(r"\b(const|volatile|__restrict__|__restrict|restrict|signed(?=\s+\w))\b")
_PTX_PARAM = re.compile(r"\.param\s+\.([usfb])(8|16|32|64)\s+(\w+)_param_(\d+)")


@dataclass
class Param:
    """One declared parameter: its text as written, its name, base type, and whether a pointer."""
    text: str
    name: str
    ctype: str
    pointer: bool


def _strip_comments(source: str) -> str:
    return re.sub(r"//[^\n]*|/\*.*?\*/", " ", source, flags=re.S)


def declared(source: str, name: str) -> list[Param] | None:
    """The parameters of `__global__ ... name(...)` as written in the source, or None if not found."""
    code = _strip_comments(source)
    m = re.search(r"__global__[^;{}()]*?\b" + re.escape(name) + r"\s*\(([^)]*)\)", code) \
        or re.search(r"\b" + re.escape(name) + r"\s*\(([^)]*)\)\s*\{", code)
    if not m:
        return None
    params = []
    for raw in m.group(1).split(","):
        text = " ".join(raw.split("=")[0].split())
        if not text or text == "void":
            continue
        pointer = "*" in text or "[" in text
        ids = re.findall(r"[A-Za-z_]\w*", re.sub(r"\[[^\]]*\]", "", text))
        pname = ids[-1] if ids else "?"
        base = _QUALIFIERS.sub(" ", re.sub(r"[*&\[\]]", " ", text))
        words = [w for w in base.split() if w != pname]
        params.append(Param(text, pname, " ".join(words), pointer))
    return params


def _ptx_types(ptx: str, name: str) -> dict[int, tuple[str, int]]:
    """Parameter index -> (kind, bytes) from the PTX entry of `name`."""
    m = re.search(r"\.entry\s+" + re.escape(name) + r"\s*\((.*?)\)", ptx, re.S)
    out = {}
    for kind, bits, _, idx in _PTX_PARAM.findall(m.group(1) if m else ""):
        out[int(idx)] = ({"u": "i", "s": "i", "f": "f", "b": "i"}[kind], int(bits) // 8)
    return out


def passed(a) -> tuple[str, int, str]:
    """(kind, bytes, how it is written) of a scalar as CuPy passes it."""
    if isinstance(a, np.generic):
        dt = np.asarray(a).dtype
        return ({"b": "b", "f": "f"}.get(dt.kind, "i"), dt.itemsize, f"np.{dt.name}")
    if isinstance(a, bool):
        return ("b", 1, "a Python bool")
    if isinstance(a, int):
        return ("i", 8, "a Python int (CuPy passes it as 8 bytes, int64)")
    return ("f", 8, "a Python float (CuPy passes it as 8 bytes, a double)")


def _numpy_for(p: Param) -> str | None:
    """The NumPy scalar type whose bytes the declared type reads (size_t n -> np.uint64)."""
    key = _TYPES.get(p.ctype)
    if key is None:
        return None
    kind, size = key
    if kind == "f":
        return f"np.float{8 * size}"
    if kind == "b":
        return "np.bool_"
    unsigned = p.ctype.startswith(("unsigned", "uint")) or p.ctype == "size_t"
    return f"np.{'u' if unsigned else ''}int{8 * size}"


def _advice(p: Param, kind: str, size: int, what: str, want: tuple[str, int]) -> str:
    fits = {("i", 4): "int", ("i", 8): "long long", ("f", 4): "float", ("f", 8): "double",
            ("b", 1): "bool", ("i", 2): "short", ("i", 1): "char"}.get((kind, size), "the matching type")
    text = (f"`{p.text}` receives {what}, {size} byte{'s' * (size != 1)}, and would read it as "
            f"{'a floating-point number of ' if want[0] == 'f' else ''}{want[1]} bytes on a GPU: declare "
            f"`{fits} {p.name}`")
    np_type = _numpy_for(p)
    return text + (f", or pass {np_type}({p.name})" if np_type else "")


def check_scalars(source: str, name: str, args: Sequence, ptx: str = "", label: str = "") -> None:
    """Raise ArgumentTypeError where a scalar argument is not what its parameter declares
    (its size, or integer against floating point), as CuPy would pass it."""
    params = declared(source, name)
    if params is None:
        return
    ptx_types = _ptx_types(ptx, name) if ptx else {}
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray) or i >= len(params):
            continue
        p = params[i]
        if p.pointer:
            raise ArgumentTypeError(f"parameter {i} `{p.text}` is a pointer, but the launch passes a scalar "
                                    f"({a!r}) there: check the order of the arguments", backend="CUDA C",
                                    launch=label)
        want = ptx_types.get(i) or _TYPES.get(p.ctype)
        if want is None:
            continue
        kind, size, what = passed(a)
        if (kind, size) != want and not (kind == "b" and want == ("i", 1)):
            raise ArgumentTypeError(_advice(p, kind, size, what, want), backend="CUDA C", launch=label)
    for i, (a, p) in enumerate(zip(args, params)):
        if isinstance(a, np.ndarray) and not p.pointer:
            raise ArgumentTypeError(f"parameter {i} `{p.text}` is a scalar, but the launch passes an array "
                                    f"there: check the order of the arguments", backend="CUDA C", launch=label)

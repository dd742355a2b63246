"""A Numba kernel as source text, sent to a child process and defined again there.

The simulator needs `NUMBA_ENABLE_CUDASIM=1` before numba is imported, so a kernel runs in a
child, which cannot receive a notebook function by pickle. `ship_kernel` sends it the way the
course sends any notebook code (`autograder.shipping`): the kernel's source, and by source
every function or `@cuda.jit` dispatcher it calls; modules by name, plain values pickled. A
kernel may also be given as source text. `land_kernel` defines it again in the child, after
the simulator's prelude (math, numpy, numba, cuda, the numba types), keeping line numbers.

Known limitations: as `shipping`'s: lambdas and closures cannot be shipped; a global that does
not pickle is left out (the kernel then fails with a NameError at the line that uses it).
"""
from __future__ import annotations

import ast
import builtins
import dataclasses
import inspect

from ..shipping import Shipment, land, ship, ship_text
from .errors import KernelCompileError

STUB_KERNEL = "@cuda.jit\ndef stub(*args):\n    pass\n"   # a kernel doing nothing: the time limits' reference
PRELUDE = ("import math\nimport numpy as np\nimport numpy\nimport numba\nfrom numba import cuda\n"
           "from numba import float32, float64, int32, int64, uint32, uint64, int8, uint8, int16, uint16, "
           "boolean, void\n")


def _travels_by_source(value) -> bool:
    """A kernel's helpers (device functions, plain functions) are compiled with it: send their source."""
    return hasattr(value, "py_func") or inspect.isfunction(value)


def kernel_names_in(text: str) -> list[str]:
    """Functions decorated with a jit that is not device=True, in order."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                txt = ast.unparse(d)
                if "jit" in txt and "device=True" not in txt.replace(" ", ""):
                    found.append(node.name)
    return found


def ship_kernel(kernel, name: str | None = None) -> Shipment:
    """The kernel (a function, a dispatcher, or source text) as a Shipment named after the kernel."""
    if isinstance(kernel, str):
        try:
            ast.parse(kernel)
        except SyntaxError as e:
            raise KernelCompileError(f"the kernel's source does not parse: {e.msg} at line {e.lineno}: "
                                     f"`{(e.text or '').strip()}`", backend="Python") from None
        if name is None:
            names = kernel_names_in(kernel)
            if len(names) != 1:
                raise ValueError(f"the source defines {len(names)} kernels ({', '.join(names)}); pass name=")
            name = names[0]
        return ship_text(kernel, name)
    if hasattr(kernel, "shipment"):               # the grader's Remote answer: already its code
        return dataclasses.replace(kernel.shipment, name=name or kernel.shipment.name)
    if not callable(getattr(kernel, "py_func", kernel)):
        raise TypeError(f"expected a Numba CUDA kernel, a function or source text, got {type(kernel).__name__}")
    shipment = ship(kernel, strict=False, follow=_travels_by_source)
    shipment.name = name or shipment.name
    return shipment


class _StripSignatures(ast.NodeTransformer):
    """cuda.jit("void(float32[:])") compiles eagerly, which needs a GPU: keep only its keywords."""

    def visit_FunctionDef(self, node):
        for d in node.decorator_list:
            if isinstance(d, ast.Call) and "jit" in ast.unparse(d.func):
                d.args = []
                d.keywords = [k for k in d.keywords if k.arg not in ("signature", "sig", "argtypes", "restype")]
        self.generic_visit(node)
        return node


def land_kernel(shipment: Shipment, strip_signatures: bool = False) -> dict:
    """The namespace in which the shipped kernel and its helpers are defined again (in the child)."""
    ns: dict = {"__name__": "__student__", "__builtins__": builtins}
    exec(PRELUDE, ns)
    return land(shipment, ns, transform=_StripSignatures().visit if strip_signatures else None)


"""The compile a GPU would make: `numba.cuda.compile_ptx` for compute capability 7.5, no driver.

The simulator runs a kernel as Python, so it accepts what a GPU's compiler refuses: strings,
lists, NumPy calls that allocate, a kernel that returns a value, a helper without
`@cuda.jit(device=True)`. So the simulator's job comes with a second child (without the
simulator) that types the kernel for the first launch's argument types and compiles it to PTX.
libNVVM and libdevice come from the `nvidia-cuda-nvcc-cu12` wheel, through the CUDA_HOME that
`toolchain.cuda_home_from_wheels` makes; without them the compile is skipped, and says so.

Known limitations: only the first launch's argument types are compiled; `compile_ptx` stops at
the first typing error.
"""
from __future__ import annotations

import re

from .errors import KernelCompileError
from .source import land_kernel


class _FakeDevice:
    def __init__(self, cc):
        self.compute_capability = tuple(cc)


def compile_job(job: dict) -> dict:
    """In the child: {"ok": ...}, {"error": the compiler's text} or {"skipped": why}."""
    from numba import cuda, typeof
    shipment = job["source"]
    # Overloaded functions (sum, many NumPy functions) are compiled as device functions for the
    # *current* device's compute capability, which needs a driver: give them the target's.
    import numba.cuda.dispatcher as dispatcher_module
    if hasattr(dispatcher_module, "get_current_device"):
        dispatcher_module.get_current_device = lambda: _FakeDevice(job["cc"])
    try:
        kern = land_kernel(shipment, strip_signatures=True)[shipment.name]
        py = getattr(kern, "py_func", kern)
        argtypes = tuple(typeof(a) for a in job["launches"][0][3])
    except SyntaxError as e:
        return {"error": f"SyntaxError: {e.msg} at line {e.lineno}: {(e.text or '').strip()}"}
    except Exception as e:
        return {"skipped": f"could not prepare the PTX compile: {type(e).__name__}: {e}"}
    try:
        ptx, _ = cuda.compile_ptx(py, argtypes, cc=tuple(job["cc"]))
    except Exception as e:
        text = f"{type(e).__name__}: {e}"
        if any(s in text for s in ("NVVM", "libdevice", "CUDA toolkit", "cudatoolkit", "CudaSupportError",
                                   "NvvmSupportError", "libcudart", "cannot be found")):
            return {"skipped": f"PTX compile skipped, the CUDA compiler libraries are missing: {text[:300]}"}
        return {"error": text}
    return {"ok": True, "ptx_lines": ptx.count("\n"), "argtypes": [str(t) for t in argtypes]}


def compile_error(text: str, cc) -> KernelCompileError:
    """In the parent: the compiler's complaint, for the student, with what a GPU cannot run."""
    lines = [l for l in text.splitlines() if l.strip()]
    short = "\n".join(lines[:30])
    if not re.search(r"line \d+", short):
        short += ("\n(Numba gave no line number. What a GPU cannot run: Python lists, dicts and strings, NumPy "
                  "functions that allocate such as np.zeros, a kernel that returns a value, helper functions "
                  "without @cuda.jit(device=True).)")
    return KernelCompileError(
        f"the kernel does not compile for a GPU (numba.cuda.compile_ptx, compute capability "
        f"{cc[0]}.{cc[1]}); the simulator would have run it, a GPU will not:\n{short}",
        backend="Numba CUDA compile to PTX")

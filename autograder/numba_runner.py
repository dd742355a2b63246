"""Run a Numba CUDA kernel with a given grid and block on any machine.

GPU: the kernel runs for real (`numba.cuda`); each array argument gets a guard zone after its
end, and a write into it is reported as out of bounds.

CPU: two subprocesses, run side by side:
  * the simulator (`NUMBA_ENABLE_CUDASIM=1`, which must be set before numba is imported, hence
    the subprocess). Array arguments are wrapped so that every global-memory element read and
    write is counted per thread, and an index outside the array (negative ones too, which NumPy
    would wrap around) stops the kernel with the array's name, the index and the line.
    Shared arrays are wrapped as well: an access that conflicts with another thread's access in
    the same barrier interval (no `cuda.syncthreads()` between them) is reported as a race;
    global writes by two threads to one element (not through `cuda.atomic`) too.
  * `numba.cuda.compile_ptx(kernel, argument types, cc=(7, 5))`, which types the kernel as the
    GPU compiler would and catches what the simulator runs happily (strings, lists, NumPy calls,
    return values). libNVVM comes from the `nvidia-cuda-nvcc-cu12` wheel when it is installed.

How the kernel reaches the subprocess: as Python source text. For a function or a
`@cuda.jit` dispatcher, `inspect.getsource` reads it (it works for functions defined in a
notebook cell under IPython); the `@cuda.jit(device=True)` functions it calls are collected the
same way, modules it uses (cuda, np, math) are imported again by name, and plain values it reads
(TPB = 16) are pickled. A kernel can also be given directly as source text. The child executes
the text with the original line numbers, so errors point at the lines the student sees.

Known limitations: the simulator runs about 0.5 ms per CUDA thread, so keep CPU launches to a
few thousand threads; closures over non-picklable objects are not carried over; races through
global memory are only seen between writes (and a write then a read by another block), not
read-then-write; warp-level primitives run as the simulator runs them.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .kernel_checks import (AccessCount, communicate, KernelCompileError, KernelCrash, KernelRun, KernelTimeout, Launch,
                            OutOfBoundsError, RaceError, validate_launch)

DEFAULT_CC = (7, 5)
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
PRELUDE = ("import math\nimport numpy as np\nimport numpy\nimport numba\nfrom numba import cuda\n"
           "from numba import float32, float64, int32, int64, uint32, uint64, int8, uint8, int16, uint16, "
           "boolean, void\n")
SIM_BACKEND = "Numba CUDA simulator (CPU)"


# ---------------------------------------------------------------- the kernel as source text

@dataclass
class KernelSource:
    name: str
    blocks: list[tuple[str, str, int]]                 # (label, source text, first line number)
    values: dict[str, Any] = field(default_factory=dict)   # plain globals the code reads
    modules: dict[str, str] = field(default_factory=dict)  # alias -> module name


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _code_names(c)
    return names


def _is_kernel_like(v) -> bool:
    return hasattr(v, "py_func") or inspect.isfunction(v)


def _collect(func, src: KernelSource, seen: set) -> None:
    py = getattr(func, "py_func", func)
    if py in seen:
        return
    seen.add(py)
    try:
        lines, start = inspect.getsourcelines(py)
    except (OSError, TypeError) as e:
        raise ValueError(f"cannot read the source of {getattr(py, '__name__', py)!r} ({e}); "
                         f"pass the kernel as source text instead") from None
    src.blocks.append((py.__name__, textwrap.dedent("".join(lines)), max(int(start), 1)))
    try:
        nonlocals = inspect.getclosurevars(py).nonlocals
    except Exception:
        nonlocals = {}
    scope = {**py.__globals__, **nonlocals}
    for n in sorted(_code_names(py.__code__)):
        if n not in scope or n in src.values or n in src.modules:
            continue
        v = scope[n]
        if inspect.ismodule(v):
            src.modules[n] = v.__name__
        elif _is_kernel_like(v):
            _collect(v, src, seen)
        else:
            try:
                pickle.dumps(v)
            except Exception:
                continue
            src.values[n] = v


def _kernel_names_in(text: str) -> list[str]:
    """Functions decorated with a jit that is not device=True, in order."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                txt = ast.unparse(d)
                if "jit" in txt and "device=True" not in txt.replace(" ", ""):
                    found.append(node.name)
    return found


def kernel_source(kernel, name: str | None = None) -> KernelSource:
    """The kernel (a function, a dispatcher, or source text) as source text for a subprocess."""
    if isinstance(kernel, str):
        try:
            ast.parse(kernel)
        except SyntaxError as e:
            raise KernelCompileError(f"the kernel's source does not parse: {e.msg} at line {e.lineno}: "
                                     f"`{(e.text or '').strip()}`", backend="Python") from None
        if name is None:
            names = _kernel_names_in(kernel)
            if len(names) != 1:
                raise ValueError(f"the source defines {len(names)} kernels ({', '.join(names)}); pass name=")
            name = names[0]
        return KernelSource(name, [("<kernel source>", kernel, 1)])
    py = getattr(kernel, "py_func", kernel)
    if not callable(py):
        raise TypeError(f"expected a Numba CUDA kernel, a function or source text, got {type(kernel).__name__}")
    src = KernelSource(name or py.__name__, [])
    _collect(kernel, src, set())
    src.blocks.reverse()  # helpers first; order does not matter to Python, but reads well in errors
    return src


class _StripSignatures(ast.NodeTransformer):
    """cuda.jit("void(float32[:])") compiles eagerly, which needs a GPU: keep only its keywords."""

    def visit_FunctionDef(self, node):
        new = []
        for d in node.decorator_list:
            if isinstance(d, ast.Call) and "jit" in ast.unparse(d.func):
                d.args = []
                d.keywords = [k for k in d.keywords if k.arg not in ("signature", "sig", "argtypes", "restype")]
            new.append(d)
        node.decorator_list = new
        self.generic_visit(node)
        return node


def build_namespace(src: KernelSource, strip_signatures: bool = False) -> dict:
    """Execute the kernel's source in a fresh namespace (in the child), keeping line numbers."""
    import importlib
    import linecache
    ns: dict = {"__name__": "__student__", "__builtins__": builtins}
    exec(PRELUDE, ns)
    for alias, mod in src.modules.items():
        try:
            ns[alias] = importlib.import_module(mod)
        except ImportError:
            pass
    ns.update(src.values)
    for label, text, start in src.blocks:
        filename = f"<{label}>" if not label.startswith("<") else label
        padded = "\n" * (start - 1) + text
        linecache.cache[filename] = (len(padded), None, padded.splitlines(True), filename)
        tree = ast.parse(padded, filename)
        if strip_signatures:
            tree = ast.fix_missing_locations(_StripSignatures().visit(tree))
        exec(compile(tree, filename, "exec"), ns)
    return ns


# ---------------------------------------------------------------- instrumented arrays (child, simulator)

class _OutOfBounds(IndexError):
    pass


class _Race(RuntimeError):
    pass


class Tracker:
    """Counts and race records of one launch. Every simulated thread is a Python thread."""

    def __init__(self, sources: dict[str, list[str]]):
        self.lock = threading.Lock()
        self.threads: list = []
        self.error: dict | None = None
        self.sources = sources
        self.atomic = threading.local()

    def counts(self, th) -> dict:
        c = getattr(th, "_ag_counts", None)
        if c is None:
            c = th._ag_counts = {}
            self.threads.append(th)
        return c

    def fail(self, info: dict, exc: type) -> None:
        with self.lock:
            if self.error is None:
                self.error = info
        raise exc(info.get("message", ""))

    def summary(self) -> AccessCount:
        acc = AccessCount(threads=len(self.threads))
        for th in self.threads:
            r = w = 0
            for name, (nr, nw) in th._ag_counts.items():
                if nr:
                    acc.reads[name] = acc.reads.get(name, 0) + nr
                if nw:
                    acc.writes[name] = acc.writes.get(name, 0) + nw
                r += nr
                w += nw
            acc.max_reads_per_thread = max(acc.max_reads_per_thread, r)
            acc.max_writes_per_thread = max(acc.max_writes_per_thread, w)
        return acc


def _caller_line() -> tuple[str, int]:
    """File and line of the nearest frame in the student's code (labelled "<...>")."""
    f = sys._getframe(1)
    while f is not None and not f.f_code.co_filename.startswith("<"):
        f = f.f_back
    return (f.f_code.co_filename, f.f_lineno) if f is not None else ("?", 0)


def _thread_ids(th) -> tuple[tuple, tuple, int]:
    ids = getattr(th, "_ag_ids", None)
    if ids is None:
        ids = th._ag_ids = (tuple(th.blockIdx), tuple(th.threadIdx))
    return ids[0], ids[1], getattr(th, "_ag_epoch", 0)


def _kernel_lineno() -> int:
    """The line of the student's code that made this access (two frames up, usually)."""
    f = sys._getframe(3)
    if f.f_code.co_filename.startswith("<"):
        return f.f_lineno
    return _caller_line()[1]


class _Checked:
    """An array seen by the kernel: bounds checked, accesses counted (global) and checked for races."""

    __slots__ = ("_a", "_name", "_t", "_root", "_shared", "_state", "_off", "_strides", "shape", "size", "ndim",
                 "dtype")

    def __init__(self, a: np.ndarray, name: str, tracker: Tracker, shared: bool, root=None, state=None):
        self._a = a
        self._name = name
        self._t = tracker
        self._shared = shared
        self._root = a if root is None else root
        self._state = {} if state is None else state
        self._off = ((a.__array_interface__["data"][0] - self._root.__array_interface__["data"][0])
                     // a.itemsize if root is not None else 0)
        self._strides = tuple(st // a.itemsize for st in a.strides)
        self.shape = a.shape
        self.size = a.size
        self.ndim = a.ndim
        self.dtype = a.dtype

    def __len__(self):
        return len(self._a)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._a, dtype=dtype)

    def _index(self, idx, kind):
        t = idx if type(idx) is tuple else (idx,)
        if len(t) > self.ndim:
            raise IndexError(f"too many indices for {self._name}: {len(t)} for {self.ndim} dimensions")
        ints = []
        shape = self.shape
        for axis, i in enumerate(t):
            if isinstance(i, slice) or i is Ellipsis or i is None:
                return None
            try:
                i = int(i)
            except TypeError:
                raise TypeError(f"{self._name} indexed with {type(i).__name__}; indices must be integers") from None
            if i < 0 or i >= shape[axis]:
                self._out_of_bounds(t, axis, i, kind)
            ints.append(i)
        return tuple(ints)

    def _out_of_bounds(self, t, axis, i, kind):
        b, tid, _ = _thread_ids(threading.current_thread())
        fn, line = _caller_line()
        where = "" if len(t) == 1 else f" along axis {axis}"
        self._t.fail({"kind": "oob", "array": self._name, "index": tuple(int(x) for x in t),
                      "shape": self.shape, "access": kind, "block": b, "thread": tid, "file": fn,
                      "line": line, "shared": self._shared,
                      "message": f"index {i} out of bounds{where} for {self._name} of shape {self.shape}"},
                     _OutOfBounds)

    def _element_key(self, ints) -> int:
        key = self._off
        for i, st in zip(ints, self._strides):
            key += i * st
        return key
    def _track(self, ints, write: bool):
        th = threading.current_thread()
        b, tid, epoch = _thread_ids(th)
        if not self._shared:
            c = self._t.counts(th)
            rw = c.get(self._name)
            if rw is None:
                rw = c[self._name] = [0, 0]
            rw[1 if write else 0] += 1
            if getattr(self._t.atomic, "on", False):
                return
        if len(ints) < self.ndim:
            return  # a row view: checked when its elements are touched
        key = self._element_key(ints)
        me = (b, tid)
        if not write and not self._shared and key not in self._state:
            return  # a global element nobody wrote: nothing to race with
        # No lock: accesses of one element in one barrier interval by two threads are a race
        # anyway, and intervals are ordered by the barrier's own lock.
        rec = self._state.get(key)
        if rec is None:
            rec = self._state[key] = [None, None, 0, {}]  # writer, (block, interval) of the write, line, readers
        w, wepoch, wline, readers = rec
        now = (b, epoch)
        # Read after another thread's write, unordered: same block and barrier interval, or
        # another block. Shared memory also: write after another thread's read in the same
        # interval. (Two writes alone are not reported: the values check sees what matters.)
        conflict_w = (not write and w is not None and w != me
                      and (wepoch == now or (not self._shared and w[0] != b)))
        conflict_r = write and self._shared and any(r != me and e == now for r, (e, _) in readers.items())
        if conflict_w or conflict_r:
            if conflict_w:
                other, other_line = w, wline
            else:
                other, other_line = next((r, ln) for r, (e, ln) in readers.items() if r != me and e == now)
            fn, line = _caller_line()
            info = {"kind": "race", "array": self._name, "index": tuple(ints), "shared": self._shared,
                    "access": "write" if write else "read", "block": b, "thread": tid,
                    "other_block": other[0], "other_thread": other[1],
                    "other_did": "wrote" if conflict_w else "read", "other_line": other_line,
                    "file": fn, "line": line, "message": f"race on {self._name}{list(ints)}"}
            with self._t.lock:
                self._t.error = self._t.error or info
            raise _Race(info["message"])
        if write:
            rec[0], rec[1], rec[2] = me, now, _kernel_lineno()
            rec[3] = {}
        elif self._shared and (me in readers or len(readers) < 64) and readers.get(me, (None,))[0] != now:
            readers[me] = (now, _kernel_lineno())  # the first read of this interval, and its line

    def __getitem__(self, idx):
        ints = self._index(idx, "read")
        if ints is None or len(ints) < self.ndim:
            sub = self._a[idx]
            return _Checked(sub, self._name, self._t, self._shared, self._root, self._state)
        self._track(ints, False)
        return self._a[ints]

    def __setitem__(self, idx, value):
        ints = self._index(idx, "write")
        if ints is None or len(ints) < self.ndim:
            self._a[idx] = np.asarray(value._a if isinstance(value, _Checked) else value)
            return
        self._track(ints, True)
        self._a[ints] = value


def _install_block_manager(simkernel) -> None:
    """The simulator's block of threads, with a condition variable instead of a polling loop.

    Same semantics (threads that return leave the barrier; an exception in one thread aborts the
    others and is re-raised), 2-4x faster, and it counts barrier intervals per thread
    (`_ag_epoch`) for the race check. Left alone if this Numba's simulator looks different.
    """
    BT, BM = simkernel.BlockThread, simkernel.BlockManager
    if not all(hasattr(BM, a) for a in ("run",)) or not hasattr(BT, "syncthreads"):
        return

    def syncthreads(self):
        mgr = self._manager
        with mgr._ag_cond:
            if mgr._ag_abort:
                raise RuntimeError("abort flag set on syncthreads call")
            gen = mgr._ag_gen
            mgr._ag_blocked += 1
            if mgr._ag_blocked >= mgr._ag_alive:
                mgr._ag_blocked = 0
                mgr._ag_gen += 1
                mgr._ag_cond.notify_all()
            else:
                while mgr._ag_gen == gen and not mgr._ag_abort:
                    mgr._ag_cond.wait()
            if mgr._ag_abort:
                raise RuntimeError("abort flag set on syncthreads clear")
        self._ag_epoch = getattr(self, "_ag_epoch", 0) + 1

    def run(self, grid_point, *args):
        self._ag_cond = threading.Condition()
        self._ag_gen = self._ag_blocked = 0
        self._ag_abort = False
        self._ag_first = None
        points = list(np.ndindex(*self._block_dim))
        self._ag_alive = len(points)

        def target():
            try:
                self._f(*args)
            except BaseException:
                with self._ag_cond:
                    if not self._ag_abort:
                        self._ag_abort = True
                        self._ag_first = threading.current_thread()
                    self._ag_cond.notify_all()
                raise
            finally:
                with self._ag_cond:
                    self._ag_alive -= 1
                    if self._ag_alive > 0 and self._ag_blocked >= self._ag_alive:
                        self._ag_blocked = 0
                        self._ag_gen += 1
                        self._ag_cond.notify_all()

        threads = [BT(target, self, grid_point, p, self._debug) for p in points]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        first = self._ag_first
        for t in ([first] if first is not None else []) + threads:
            if t.exception:
                raise t.exception[0].with_traceback(t.exception[1])

    BT.syncthreads = syncthreads
    BM.run = run


def _install_hooks(tracker_ref: list, sources: dict[str, list[str]]) -> None:
    """Simulator patches, in the child only: barrier epochs, checked shared arrays, atomic marks."""
    from numba.cuda.simulator import kernel as simkernel
    from numba.cuda.simulator import kernelapi
    from numba.core import types as nbtypes
    from numba.np import numpy_support

    _install_block_manager(simkernel)

    alloc_lock = threading.Lock()

    def shared_array(self, shape, dtype):
        if isinstance(dtype, nbtypes.Type):
            dtype = numpy_support.as_dtype(dtype)
        if shape == 0:
            count = self._dynshared_size // np.dtype(dtype).itemsize
            arr = np.frombuffer(self._dynshared.data, dtype=dtype, count=count)
            key = ("<dynamic>", 0)
        else:
            f = sys._getframe(1)
            key = (f.f_code.co_filename, f.f_lineno)
            arr = None
        with alloc_lock:
            res = self._allocations.get(key)
            if res is None:
                if arr is None:
                    arr = np.empty(shape, dtype)
                    if arr.dtype.kind == "f":
                        arr.fill(np.nan)
                lines = sources.get(key[0], [])
                text = lines[key[1] - 1] if 0 < key[1] <= len(lines) else ""
                m = re.search(r"(\w+)\s*=\s*[\w.]*shared\.array", text)
                name = m.group(1) if m else f"shared array (line {key[1]})"
                res = self._allocations[key] = _Checked(arr, name, tracker_ref[0], shared=True)
            return res

    kernelapi.FakeCUDAShared.array = shared_array

    for meth in [m for m in vars(kernelapi.FakeCUDAAtomic) if not m.startswith("_")]:
        fn = getattr(kernelapi.FakeCUDAAtomic, meth)

        def wrapped(self, *a, _fn=fn, **k):
            t = tracker_ref[0]
            t.atomic.on = True
            try:
                return _fn(self, *a, **k)
            finally:
                t.atomic.on = False

        setattr(kernelapi.FakeCUDAAtomic, meth, wrapped)


def _error_from_exception(e: BaseException, tracker: Tracker, labels: set) -> dict:
    info = dict(tracker.error) if tracker.error else {}
    if not info:
        frames = [f for f in __import__("traceback").extract_tb(e.__traceback__) if f.filename in labels]
        last = frames[-1] if frames else None
        msg = str(e)
        m = re.match(r"tid=\[([^\]]*)\] ctaid=\[([^\]]*)\]:?\s*(.*)", msg, re.S)
        thread = block = None
        if m:
            thread = tuple(int(x) for x in m.group(1).split(","))
            block = tuple(int(x) for x in m.group(2).split(","))
            msg = m.group(3)
        kind = "oob" if isinstance(e, IndexError) else "crash"
        info = {"kind": kind, "type": type(e).__name__, "message": msg, "thread": thread, "block": block,
                "file": last.filename if last else None, "line": last.lineno if last else None}
    return info


def _child_simulate(job: dict) -> dict:
    from numba import cuda  # noqa: F401  (simulator: NUMBA_ENABLE_CUDASIM=1 is in the environment)
    src: KernelSource = job["source"]
    sources = {}
    tracker_ref = [Tracker(sources)]
    _install_hooks(tracker_ref, sources)
    ns = build_namespace(src)
    import linecache
    for label, _, _ in src.blocks:
        fn = f"<{label}>" if not label.startswith("<") else label
        sources[fn] = [l.rstrip("\n") for l in linecache.cache[fn][2]]
    kern = ns.get(src.name)
    if kern is None:
        return {"fatal": f"no function named {src.name!r} in the kernel's source"}
    if not hasattr(kern, "_device") and inspect.isfunction(kern):
        kern = cuda.jit(kern)
    params = list(inspect.signature(kern.py_func).parameters)
    results = []
    indices = job.get("indices") or list(range(len(job["launches"])))
    for k, (grid, block, smem, args) in zip(indices, job["launches"]):
        print(f"@@LAUNCH {k}", file=sys.stderr, flush=True)
        tracker = Tracker(sources)
        tracker_ref[0] = tracker
        wrapped = [_Checked(a, params[i] if i < len(params) else f"argument {i}", tracker, shared=False)
                   if isinstance(a, np.ndarray) else a for i, a in enumerate(args)]
        t0 = time.time()
        try:
            kern[grid, block, 0, smem](*wrapped)
        except BaseException as e:  # the student's kernel may raise anything
            results.append({"error": _error_from_exception(e, tracker, set(sources))})
            break
        acc = tracker.summary()
        results.append({"outputs": [a if isinstance(a, np.ndarray) else None for a in args],
                        "accesses": acc if job.get("count") else None, "seconds": time.time() - t0})
    return {"launches": results, "sources": sources}


class _FakeDevice:
    def __init__(self, cc):
        self.compute_capability = tuple(cc)


def _child_compile(job: dict) -> dict:
    from numba import cuda, typeof
    src: KernelSource = job["source"]
    # Overloaded functions (sum, many NumPy functions) are compiled as device functions for the
    # *current* device's compute capability, which needs a driver: give them the target's.
    import numba.cuda.dispatcher as dispatcher_module
    if hasattr(dispatcher_module, "get_current_device"):
        dispatcher_module.get_current_device = lambda: _FakeDevice(job["cc"])
    try:
        ns = build_namespace(src, strip_signatures=True)
        kern = ns[src.name]
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


def _child_main(jobdir: str) -> None:
    job = pickle.loads(Path(jobdir, "job.pkl").read_bytes())
    try:
        result = _child_simulate(job) if job["mode"] == "simulate" else _child_compile(job)
    except BaseException as e:
        result = {"fatal": f"{type(e).__name__}: {e}"}
    tmp = Path(jobdir, "result.tmp")
    tmp.write_bytes(pickle.dumps(result))
    os.replace(tmp, Path(jobdir, "result.pkl"))


# ---------------------------------------------------------------- the parent side

def _cache_dir() -> Path:
    base = os.environ.get("GPU_COURSE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "gpu-course")
    p = Path(base)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError:
        p = Path(tempfile.gettempdir()) / "gpu-course"
        p.mkdir(parents=True, exist_ok=True)
    return p


def cuda_home_from_wheels() -> str | None:
    """A CUDA_HOME made of links into the nvidia-* wheels (libNVVM, libdevice, cudart), or None.

    Numba's built-in CUDA target looks for `$CUDA_HOME/nvvm/lib64/libnvvm.so.<n>`,
    `$CUDA_HOME/nvvm/libdevice` and `$CUDA_HOME/lib64/libcudart.so.<n>`; the wheels lay them out
    differently, so the links bridge the two.
    """
    try:
        import nvidia
    except ImportError:
        return None
    nvvm = libdevice = cudart = None
    for root in getattr(nvidia, "__path__", []):
        for cand in sorted(Path(root).glob("cuda_nvcc/nvvm/lib64/libnvvm.so*")) + sorted(
                Path(root).glob("cu*/nvvm/lib64/libnvvm.so*")):
            nvvm = nvvm or cand
        for cand in list(Path(root).glob("cuda_nvcc/nvvm/libdevice")) + list(Path(root).glob("cu*/nvvm/libdevice")):
            libdevice = libdevice or cand
        for cand in sorted(Path(root).glob("cuda_runtime/lib/libcudart.so.*")) + sorted(
                Path(root).glob("cu*/lib/libcudart.so.*")):
            cudart = cudart or cand
    if not (nvvm and libdevice and cudart):
        return None
    import hashlib
    key = hashlib.sha256(f"{nvvm}|{libdevice}|{cudart}".encode()).hexdigest()[:12]
    home = _cache_dir() / f"cuda_home_{key}"
    if not (home / "ok").exists():
        # built aside and renamed into place, so parallel processes never see half a folder
        tmp = Path(tempfile.mkdtemp(prefix=f".{home.name}.", dir=home.parent))
        links = {"nvvm/lib64/libnvvm.so.4": nvvm, "nvvm/libdevice": libdevice, f"lib64/{cudart.name}": cudart}
        for rel, target in links.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).symlink_to(target)
        (tmp / "ok").write_text("")
        if home.exists() and not (home / "ok").exists():
            shutil.rmtree(home, ignore_errors=True)          # left half made by an older version
        try:
            os.rename(tmp, home)
        except OSError:                                       # another process got there first
            shutil.rmtree(tmp, ignore_errors=True)
    return str(home)


def _spawn(job: dict, jobdir: Path, simulate: bool):
    jobdir.mkdir(parents=True, exist_ok=True)
    (jobdir / "job.pkl").write_bytes(pickle.dumps(job))
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    env["NUMBA_DISABLE_PERFORMANCE_WARNINGS"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    if simulate:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    else:
        env["NUMBA_ENABLE_CUDASIM"] = "0"
        home = cuda_home_from_wheels()
        if home:
            env["CUDA_HOME"] = home
    return subprocess.Popen([sys.executable, "-m", "autograder.numba_runner", "--child", str(jobdir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True, errors="replace")


def _wait(proc, jobdir: Path, timeout: float) -> tuple[dict | None, str, str, bool]:
    out, err, timed_out = communicate(proc, timeout)
    res = jobdir / "result.pkl"
    return (pickle.loads(res.read_bytes()) if res.exists() else None), out, err, timed_out


def _fmt3(t) -> str:
    return "(" + ",".join(str(int(x)) for x in t) + ")" if t else "?"


def _where(info: dict, sources: dict, name: str) -> str:
    fn, line = info.get("file"), info.get("line")
    if not line:
        return ""
    lines = sources.get(fn, [])
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    label = (fn or "").strip("<>")
    of = f" of {label}" if label and label != "kernel source" else ""
    return f" at line {line}{of}: `{text}`"


def _sim_error(info: dict, sources: dict, src: KernelSource, launch: Launch):
    who = ""
    if info.get("thread") is not None:
        who = f" by the thread blockIdx={_fmt3(info.get('block'))} threadIdx={_fmt3(info.get('thread'))}"
    where = _where(info, sources, src.name)
    label = launch.describe()
    if info["kind"] == "oob":
        if "array" in info:
            idx = info["index"]
            shown = f"{info['array']}[{', '.join(map(str, idx))}]"
            shape = info["shape"]
            size = f"{shape[0]} element{'s' if shape[0] != 1 else ''}" if len(shape) == 1 else f"shape {shape}"
            kind = "shared array" if info.get("shared") else "array"
            msg = (f"out-of-bounds {info['access']} of {shown} (the {kind} {info['array']} has {size}){who}{where}. "
                   f"Threads whose index falls outside the data must not touch memory: add a bounds guard such "
                   f"as `if i < n:`")
        else:
            msg = f"out-of-bounds index ({info.get('message')}){who}{where}. Check the bounds guard"
        return OutOfBoundsError(msg, backend=SIM_BACKEND, launch=label)
    if info["kind"] == "race":
        other = f"thread {_fmt3(info['other_thread'])}"
        if info["other_block"] != info["block"]:
            other += f" of block {_fmt3(info['other_block'])}"
        other_where = ""
        if info.get("other_line"):
            lines = sources.get(info["file"], [])
            ol = info["other_line"]
            other_where = f" at line {ol}: `{lines[ol - 1].strip() if 0 < ol <= len(lines) else ''}`"
        if info.get("shared"):
            msg = (f"race on the shared array {info['array']}: thread {_fmt3(info['thread'])} of block "
                   f"{_fmt3(info['block'])} {'writes' if info['access'] == 'write' else 'reads'} "
                   f"{info['array']}{list(info['index'])}{where}, which {other} {info['other_did']}{other_where}, "
                   f"with no cuda.syncthreads() between. Call cuda.syncthreads() after the tile is loaded and "
                   f"again before it is overwritten")
        else:
            msg = (f"race on {info['array']}{list(info['index'])}: thread {_fmt3(info['thread'])} of block "
                   f"{_fmt3(info['block'])} {'writes' if info['access'] == 'write' else 'reads'} it{where}, "
                   f"which {other} {info['other_did']}{other_where}. Each element should have one writer, "
                   f"or use cuda.atomic.add")
        return RaceError(msg, backend=SIM_BACKEND, launch=label)
    return KernelCrash(f"the kernel raised {info.get('type', 'an error')}: {info.get('message')}{who}{where}",
                       backend=SIM_BACKEND, launch=label)


def _compile_error(text: str, src: KernelSource) -> KernelCompileError:
    lines = [l for l in text.splitlines() if l.strip()]
    short = "\n".join(lines[:30])
    if not re.search(r"line \d+", short):
        short += ("\n(Numba gave no line number. What a GPU cannot run: Python lists, dicts and strings, NumPy "
                  "functions that allocate such as np.zeros, a kernel that returns a value, helper functions "
                  "without @cuda.jit(device=True).)")
    return KernelCompileError(
        f"the kernel does not compile for a GPU (numba.cuda.compile_ptx, compute capability "
        f"{DEFAULT_CC[0]}.{DEFAULT_CC[1]}); the simulator would have run it, a GPU will not:\n{short}",
        backend="Numba CUDA compile to PTX")


def _split(launches: list[Launch], workers: int) -> list[list[int]]:
    """Launch indices in up to `workers` groups of about equal thread counts (greedy, largest first)."""
    cost = [int(np.prod(L.grid3)) * int(np.prod(L.block3)) for L in launches]
    groups: list[list[int]] = [[] for _ in range(max(1, min(workers, len(launches))))]
    load = [0] * len(groups)
    for k in sorted(range(len(launches)), key=lambda i: -cost[i]):
        g = load.index(min(load))
        groups[g].append(k)
        load[g] += cost[k]
    return [sorted(g) for g in groups if g]


def simulator_workers() -> int:
    """Simulator processes run side by side: each is one Python process bound by its GIL."""
    env = os.environ.get("GPU_COURSE_SIM_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(4, os.cpu_count() or 1))


def _run_simulator(kernel, launches: list[Launch], name, count_accesses, timeout, compile_check, cc) -> KernelRun:
    src = kernel_source(kernel, name)
    packed = [(L.grid3, L.block3, int(L.shared_mem), list(L.args)) for L in launches]
    groups = _split(launches, simulator_workers())
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="numba_run_") as tmp:
        sims = [(g, Path(tmp) / f"sim{i}") for i, g in enumerate(groups)]
        procs = [_spawn({"mode": "simulate", "source": src, "launches": [packed[k] for k in g], "indices": g,
                         "count": count_accesses}, d, simulate=True) for g, d in sims]
        comp = _spawn({"mode": "compile", "source": src, "launches": packed[:1], "cc": cc},
                      Path(tmp) / "ptx", simulate=False) if compile_check else None
        done = [_wait(p, d, max(0.1, timeout - (time.time() - t0))) for p, (_, d) in zip(procs, sims)]
        cres = None
        if comp is not None:
            cres, _, cerr, ctimeout = _wait(comp, Path(tmp) / "ptx", max(120.0, timeout))
            if cres is None:
                cres = {"skipped": "the PTX compile did not finish" + (" in time" if ctimeout else
                                                                      f": {cerr.strip()[-300:]}")}
    if cres and "error" in cres:
        raise _compile_error(cres["error"], src)
    per_launch: dict[int, dict] = {}
    failures = []  # (launch index, exception)
    printed = ""
    for (g, _), (result, out, err, timed_out) in zip(sims, done):
        printed += out
        if timed_out:
            found = re.findall(r"@@LAUNCH (\d+)", err)
            k = int(found[-1]) if found else g[0]
            failures.append((k, KernelTimeout(
                f"the kernel ran past the time limit of {timeout:.0f} s in the simulator: an endless loop? "
                f"(the simulator runs a few thousand CUDA threads a second)",
                backend=SIM_BACKEND, launch=launches[k].describe())))
            continue
        if result is None:
            raise RuntimeError(f"the simulator subprocess failed:\n{err[-3000:]}")
        if "fatal" in result:
            raise KernelCrash(result["fatal"], backend=SIM_BACKEND)
        for k, r in zip(g, result["launches"]):
            if "error" in r:
                failures.append((k, _sim_error(r["error"], result["sources"], src, launches[k])))
                break
            per_launch[k] = r
    if printed.strip():
        print(printed[:5000], end="" if printed.endswith("\n") else "\n")
    if failures:
        raise min(failures, key=lambda f: f[0])[1]
    outputs = [per_launch[k]["outputs"] for k in range(len(launches))]
    accesses = [per_launch[k]["accesses"] for k in range(len(launches))]
    notes = []
    if cres is not None:
        notes.append("compiled to PTX for compute capability %d.%d" % tuple(cc) if cres.get("ok")
                     else cres.get("skipped", "PTX compile skipped"))
    return KernelRun(SIM_BACKEND, outputs, notes, accesses,
                     {"stdout": printed, "seconds": round(time.time() - t0, 2), "workers": len(groups)})


GUARD = 0x7E


def _gpu_kernel(kernel, name):
    from numba import cuda
    if isinstance(kernel, str):
        ns = build_namespace(kernel_source(kernel, name))
        return ns[kernel_source(kernel, name).name]
    if hasattr(kernel, "py_func") and type(kernel).__name__ != "FakeCUDAKernel":
        return kernel
    return cuda.jit(getattr(kernel, "py_func", kernel))


def _run_gpu(kernel, launches: list[Launch], name, timeout) -> KernelRun:
    from numba import cuda
    from .device import detect
    dev = detect()
    backend = f"GPU ({dev.name}), Numba CUDA"
    kern = _gpu_kernel(kernel, name)
    pname = list(inspect.signature(getattr(kern, "py_func", kern)).parameters)
    outputs = []
    for L in launches:
        dargs, guards = [], []
        for a in L.args:
            if isinstance(a, np.ndarray):
                a = np.ascontiguousarray(a)
                pad = max(1024, int(np.prod(L.grid3)) * int(np.prod(L.block3))) * a.itemsize
                raw = cuda.to_device(np.concatenate([a.view(np.uint8).ravel(), np.full(pad, GUARD, np.uint8)]))
                dargs.append(raw[:a.nbytes].view(a.dtype).reshape(a.shape))
                guards.append((raw, a))
            else:
                dargs.append(a)
                guards.append(None)
        try:
            kern[L.grid3, L.block3, 0, L.shared_mem](*dargs)
        except Exception as e:
            if "Typing" in type(e).__name__ or "Lowering" in type(e).__name__ or "Unsupported" in type(e).__name__:
                raise KernelCompileError(f"the kernel does not compile:\n{e}", backend=backend) from None
            raise
        ev = cuda.event()
        ev.record()
        t0 = time.time()
        while not ev.query():
            if time.time() - t0 > timeout:
                raise KernelTimeout(f"the kernel ran past the time limit of {timeout:.0f} s (it is still running "
                                    f"on the GPU: restart the runtime)", backend=backend, launch=L.describe())
            time.sleep(0.001)
        out = []
        for i, g in enumerate(guards):
            if g is None:
                out.append(None)
                continue
            raw, a = g
            host = raw.copy_to_host()
            tail = host[a.nbytes:]
            if (tail != GUARD).any():
                first = int(np.flatnonzero(tail != GUARD)[0]) // a.itemsize
                nm = pname[i] if i < len(pname) else f"argument {i}"
                raise OutOfBoundsError(
                    f"out-of-bounds write past the end of {nm}: element [{a.size + first}] was written "
                    f"({nm} has {a.size} elements). Add a bounds guard such as `if i < n:`",
                    backend=backend, launch=L.describe())
            out.append(host[:a.nbytes].view(a.dtype).reshape(a.shape).copy())
        outputs.append(out)
    return KernelRun(backend, outputs, [], [None] * len(launches), {})


def run_numba(kernel, launches: Sequence[Launch], *, name: str | None = None, backend: str = "auto",
              count_accesses: bool = False, timeout: float = 60.0, compile_check: bool = True,
              cc: tuple[int, int] = DEFAULT_CC) -> KernelRun:
    """Run `launches` of a Numba CUDA kernel; see the module docstring.

    backend: "auto" (GPU if there is one), "gpu", or "cpu"/"simulator". Access counts (and so
    read budgets) come from the simulator only: with count_accesses=True the CPU path is used.
    The arrays in `launches` are not modified; the results are in `KernelRun.outputs`.
    """
    from .device import detect
    launches = list(launches)
    if not launches:
        raise ValueError("no launches")
    on_gpu = backend == "gpu" or (backend == "auto" and detect().cuda and not count_accesses)
    label = "GPU, Numba CUDA" if on_gpu else SIM_BACKEND
    for L in launches:
        validate_launch(L.grid, L.block, backend=label, label=L.describe())
    if on_gpu:
        return _run_gpu(kernel, launches, name, timeout)
    return _run_simulator(kernel, launches, name, count_accesses, timeout, compile_check, cc)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    _child_main(sys.argv[2])

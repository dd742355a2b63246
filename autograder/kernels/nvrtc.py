"""NVRTC, CUDA's runtime compiler, run on a CUDA C kernel as `cupy.RawKernel` would run it.

No driver is needed: the library comes from the `nvidia-cuda-nvrtc-cu12` wheel (or a toolkit).
It compiles the student's source with CuPy's flags for sm_<cc>, and `check_compiles` turns what
it says into a message for the student: NVRTC's errors with their lines, ptxas refusing more
than 48 KiB of static shared memory (as on a GPU), a kernel RawKernel would not find by name
(not `extern "C"`); on success, the registers and shared memory ptxas reports.

Known limitations: without NVRTC only the `extern "C"` declaration is checked, and the note
says the compiler's checks were skipped.
"""
from __future__ import annotations

import ctypes
import functools
import re
from dataclasses import dataclass, field
from typing import Sequence

from .. import isolation
from .errors import KernelCompileError, source_line
from .launch import DEFAULT_CC, STATIC_SHARED_LIMIT
from .toolchain import nvrtc_libraries

SOURCE_NAME = "kernel.cu"       # the file name NVRTC, the shim and the sanitizers give the source
CUPY_OPTIONS = ("-ftz=true",)   # what cupy.cuda.compiler adds to every RawKernel compile


@functools.lru_cache(maxsize=None)
def _nvrtc():
    for path in nvrtc_libraries():
        try:
            lib = ctypes.CDLL(path)
            lib.nvrtcGetErrorString.restype = ctypes.c_char_p
            return lib, path
        except OSError:
            continue
    return None, None


def nvrtc_version() -> tuple[int, int] | None:
    lib, _ = _nvrtc()
    if lib is None:
        return None
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return major.value, minor.value


@dataclass
class NvrtcResult:
    """What NVRTC said about a kernel."""
    available: bool
    ok: bool = True
    log: str = ""
    ptx: str = ""
    registers: int | None = None
    shared_bytes: int | None = None
    entries: list[str] = field(default_factory=list)
    version: tuple[int, int] | None = None
    options: tuple[str, ...] = ()

    def note(self) -> str:
        if not self.available:
            return ("NVRTC not found: the CUDA compiler's own checks were skipped "
                    "(pip install nvidia-cuda-nvrtc-cu12)")
        v = ".".join(map(str, self.version or ()))
        parts = [f"compiled by NVRTC {v} for sm_{self.options_arch()}"]
        if self.registers is not None:
            parts.append(f"{self.registers} registers per thread")
        if self.shared_bytes is not None:
            parts.append(f"{self.shared_bytes} bytes of static shared memory")
        return ", ".join(parts)

    def options_arch(self) -> str:
        for o in self.options:
            if o.startswith("-arch=sm_"):
                return o[len("-arch=sm_"):]
        return "?"


@functools.lru_cache(maxsize=64)
def nvrtc_compile(source: str, options: tuple[str, ...] = (), cc: tuple[int, int] = DEFAULT_CC) -> NvrtcResult:
    """Compile with NVRTC to a cubin for sm_<cc> (as CuPy does when NVRTC knows the architecture).

    With `-Xptxas=-v` the log reports registers and shared memory, but NVRTC then drops ptxas's
    error lines: a failed compile is repeated without it, for the message.
    """
    res = _nvrtc_compile(source, tuple(options) + CUPY_OPTIONS + (f"-arch=sm_{cc[0]}{cc[1]}", "-Xptxas=-v"))
    if res.available and not res.ok:
        quiet = _nvrtc_compile(source, tuple(options) + CUPY_OPTIONS + (f"-arch=sm_{cc[0]}{cc[1]}",))
        res.log = quiet.log or res.log
    return res


def _nvrtc_compile(source: str, opts: tuple[str, ...]) -> NvrtcResult:
    """One NVRTC compile. While grading it runs in a sandboxed child: a student's source can
    #include files, and a compiler's messages quote them."""
    if isolation.grading_now():
        fields = isolation.run(_compile_job, source, opts, timeout=120)
        return NvrtcResult(**{**fields, "version": tuple(fields["version"]) if fields.get("version") else None,
                              "options": tuple(fields.get("options") or ()),
                              "entries": list(fields.get("entries") or [])})
    return _compile_here(source, opts)


def _compile_job(source: str, opts: tuple[str, ...]) -> dict:
    return dict(_compile_here(source, tuple(opts)).__dict__)


def _compile_here(source: str, opts: tuple[str, ...]) -> NvrtcResult:
    lib, _ = _nvrtc()
    if lib is None:
        return NvrtcResult(available=False)
    prog = ctypes.c_void_p()
    rc = lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), SOURCE_NAME.encode(), 0, None, None)
    if rc != 0:
        raise RuntimeError(f"nvrtcCreateProgram failed: {lib.nvrtcGetErrorString(rc).decode()}")
    try:
        arr = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
        rc = lib.nvrtcCompileProgram(prog, len(opts), arr)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, buf)
        log = buf.value.decode(errors="replace")
        res = NvrtcResult(True, rc == 0, log, version=nvrtc_version(), options=opts)
        if rc == 0:
            lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
            pbuf = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetPTX(prog, pbuf)
            res.ptx = pbuf.value.decode(errors="replace")
            res.entries = re.findall(r"\.entry\s+([\w$]+)\s*\(", res.ptx)
        return res
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def _ptxas_usage(log: str, name: str) -> tuple[int | None, int | None]:
    regs = smem = None
    current = None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            current = m.group(1)
            continue
        if current == name:
            m = re.search(r"Used (\d+) registers", line)
            if m:
                regs = int(m.group(1))
                m2 = re.search(r"(\d+) bytes smem", line)
                smem = int(m2.group(1)) if m2 else 0
    return regs, smem


def _compile_error_message(log: str, source: str) -> str:
    """NVRTC's errors, each with its line number and the line itself."""
    out = []
    for line in log.splitlines():
        m = re.match(re.escape(SOURCE_NAME) + r"\((\d+)\): (error|catastrophic error)(.*)", line)
        if m:
            n = int(m.group(1))
            out.append(f"line {n}: {m.group(2)}{m.group(3)}\n    {source_line(source, n)}")
        elif "ptxas error" in line or "ptxas fatal" in line:
            out.append(line.strip())
    if not out:
        out = [log.strip()[:2000]]
    return "\n".join(out[:8])


def check_compiles(source: str, name: str, options: Sequence[str] = (), cc=DEFAULT_CC,
                   backend_label: str = "NVRTC") -> NvrtcResult:
    """Compile with NVRTC, raise KernelCompileError for the student's errors, report usage."""
    res = nvrtc_compile(source, tuple(options), tuple(cc))
    if res.available and not res.ok and "gpu-architecture" in res.log and tuple(cc) != DEFAULT_CC:
        res = nvrtc_compile(source, tuple(options), DEFAULT_CC)  # a GPU newer than this NVRTC knows
    if not res.available:
        if not re.search(r'extern\s+"C"', source):
            raise KernelCompileError(
                f'kernel {name!r} must be declared extern "C" __global__ so that cupy.RawKernel finds '
                f"it by name", backend=backend_label)
        return res
    if not res.ok:
        m = re.search(r"Entry function '([^']+)' uses too much shared data \((0x[0-9a-f]+) bytes, (0x[0-9a-f]+) max\)",
                      res.log)
        if m:
            used = int(m.group(2), 16)
            raise KernelCompileError(
                f"kernel {m.group(1)!r} declares {used} bytes of static __shared__ memory; a block may "
                f"use at most {STATIC_SHARED_LIMIT} bytes (48 KiB) of static shared memory, and ptxas "
                f"refuses more (as it would on a GPU). Use smaller tiles.", backend=backend_label)
        raise KernelCompileError("the kernel does not compile:\n" + _compile_error_message(res.log, source),
                                 backend=backend_label)
    if name not in res.entries:
        mangled = [e for e in res.entries if name in e]
        if mangled:
            raise KernelCompileError(
                f'kernel {name!r} is compiled with a C++ (mangled) name {mangled[0]!r}: declare it '
                f'extern "C" __global__ void {name}(...) so that cupy.RawKernel finds it by name',
                backend=backend_label)
        raise KernelCompileError(
            f"no __global__ function named {name!r} in the source (found: {', '.join(res.entries) or 'none'})",
            backend=backend_label)
    res.registers, res.shared_bytes = _ptxas_usage(res.log, name)
    return res

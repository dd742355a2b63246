"""Run a CUDA C kernel given as source text and a name, the way `cupy.RawKernel(code, name)` takes it.

GPU: `cupy.RawKernel` for real; array arguments get a guard zone after their end, and a write
into it is reported as out of bounds.

CPU (and, for races and bounds, on a GPU machine too):
  1. NVRTC compiles the source as CuPy would (`-arch=sm_75 -ftz=true` plus the caller's options;
     `-Xptxas -v` to read registers and shared memory). A compile error is reported with
     NVRTC's message and line; more than 48 KiB of static shared memory is refused by ptxas,
     as on a GPU; a kernel that is not `extern "C"` is refused, as RawKernel would not find it.
  2. The same source is compiled with the system C++ compiler against `cuda_shim.h` (one
     thread per CUDA thread, a barrier for __syncthreads) twice: with -fsanitize=address and
     with -fsanitize=thread. The binaries are cached by a hash of everything that went in.
  3. The AddressSanitizer binary gives the values and the out-of-bounds accesses; the
     ThreadSanitizer binary the data races. Both run in parallel, each in its own process,
     with a time limit.

NVRTC comes from the `nvidia-cuda-nvrtc-cu12` wheel (or a CUDA toolkit if one is installed);
no driver is needed. Without NVRTC the CPU path still runs, and says it skipped step 1.

Known limitations: the shim has no warps (shuffles, votes, __syncwarp), no textures, no
half precision, and `extern __shared__` must be declared inside a function. Blocks run one at
a time, so __shared__ contents carry from one block to the next (undefined on a GPU).
Scalars should be NumPy scalars (np.int32, np.float32), which CuPy passes with exactly their
size; C++ converts them to the declared parameter type.
"""
from __future__ import annotations

import ctypes
import functools
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .kernel_checks import (STATIC_SHARED_LIMIT, KernelCompileError, KernelCrash, KernelRun, communicate,
                            KernelTimeout, Launch, OutOfBoundsError, RaceError, validate_launch)

HERE = Path(__file__).resolve().parent
SHIM_HEADER = HERE / "cuda_shim.h"
SOURCE_NAME = "kernel.cu"
DEFAULT_CC = (7, 5)             # Colab's T4; also the oldest architecture CUDA 13 still builds for
CUPY_OPTIONS = ("-ftz=true",)   # what cupy.cuda.compiler adds to every RawKernel compile

C_TYPES = {
    np.dtype(np.float32): "float", np.dtype(np.float64): "double",
    np.dtype(np.int8): "signed char", np.dtype(np.uint8): "unsigned char",
    np.dtype(np.int16): "short", np.dtype(np.uint16): "unsigned short",
    np.dtype(np.int32): "int", np.dtype(np.uint32): "unsigned int",
    np.dtype(np.int64): "long long", np.dtype(np.uint64): "unsigned long long",
    np.dtype(np.bool_): "bool",
}


# ---------------------------------------------------------------- NVRTC

def _nvrtc_candidates() -> list[str]:
    found: list[str] = []
    try:
        import nvidia  # namespace package of the CUDA wheels
        for root in list(getattr(nvidia, "__path__", [])):
            for pattern in ("cuda_nvrtc/lib/libnvrtc.so*", "cu*/lib/libnvrtc.so*",
                            "cuda_nvrtc/bin/nvrtc64_*.dll", "cu*/bin/nvrtc64_*.dll"):
                found += sorted(glob.glob(os.path.join(root, pattern)), reverse=True)
    except ImportError:
        pass
    for env in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(env):
            found += sorted(glob.glob(os.path.join(os.environ[env], "lib64", "libnvrtc.so*")), reverse=True)
    found += sorted(glob.glob("/usr/local/cuda/lib64/libnvrtc.so*"), reverse=True)
    import ctypes.util
    lib = ctypes.util.find_library("nvrtc")
    if lib:
        found.append(lib)
    return [f for f in found if "builtins" not in os.path.basename(f) and ".alt." not in os.path.basename(f)]


@functools.lru_cache(maxsize=None)
def _nvrtc():
    for path in _nvrtc_candidates():
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
    lines = source.splitlines()
    out = []
    for line in log.splitlines():
        m = re.match(re.escape(SOURCE_NAME) + r"\((\d+)\): (error|catastrophic error)(.*)", line)
        if m:
            n = int(m.group(1))
            text = lines[n - 1].strip() if 0 < n <= len(lines) else ""
            out.append(f"line {n}: {m.group(2)}{m.group(3)}\n    {text}")
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


# ---------------------------------------------------------------- the C++ shim

_DYN_SHARED = re.compile(
    r"extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_][\w\s]*?[\w])\s+(\w+)\s*\[\s*\]\s*;")


def shim_source(source: str) -> str:
    """The student's source, made into C++ for the shim (same line numbers)."""
    return _DYN_SHARED.sub(
        lambda m: f"{m.group(1)}* {m.group(2)} = reinterpret_cast<{m.group(1)}*>(::cudashim::g_dynamic_smem);",
        source)


def _arg_signature(args: Sequence) -> list[tuple[str, str]]:
    sig = []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            kind = "ptr"
            dt = a.dtype
        elif isinstance(a, (np.generic, int, float, bool)):
            kind = "scalar"
            dt = np.asarray(a).dtype if isinstance(a, np.generic) else (
                np.dtype(np.int32) if isinstance(a, (int, bool)) and not isinstance(a, float) else np.dtype(np.float32))
        else:
            raise TypeError(f"argument {i}: pass NumPy arrays and NumPy scalars, got {type(a).__name__}")
        if dt not in C_TYPES:
            raise TypeError(f"argument {i}: dtype {dt} is not supported by the CPU shim")
        sig.append((kind, C_TYPES[dt]))
    return sig


def launcher_source(source: str, name: str, sig: list[tuple[str, str]]) -> str:
    params = []
    for i, (kind, ctype) in enumerate(sig):
        params.append(f"L.ptr<{ctype}>({i})" if kind == "ptr" else f"L.scalar<{ctype}>({i})")
    call_args = ", ".join(f"a{i}" for i in range(len(sig)))
    decls = "\n".join(f"    auto a{i} = {p};" for i, p in enumerate(params))
    return (
        '#include "cuda_shim.h"\n'
        f'#line 1 "{SOURCE_NAME}"\n'
        f"{shim_source(source)}\n"
        '#line 1 "launcher.cpp"\n'
        "int main(int argc, char** argv) {\n"
        "  return ::cudashim::main_loop(argc, argv, [](::cudashim::Launch& L) -> std::function<void()> {\n"
        f"{decls}\n"
        f"    return [=]() {{ {name}({call_args}); }};\n"
        "  });\n"
        "}\n")


def cache_dir() -> Path:
    base = os.environ.get("GPU_COURSE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "gpu-course")
    path = Path(base) / "cuda_shim"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(tempfile.gettempdir()) / f"gpu-course-{os.getuid() if hasattr(os, 'getuid') else 0}" / "cuda_shim"
        path.mkdir(parents=True, exist_ok=True)
    return path


def cxx_compiler() -> str | None:
    for cand in (os.environ.get("CXX"), "g++", "clang++"):
        if cand and shutil.which(cand):
            return shutil.which(cand)
    return None


@functools.lru_cache(maxsize=None)
def _cxx_version(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    except Exception:
        return ""


SANITIZER_FLAGS = {
    "address": ["-fsanitize=address", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"],
    "thread": ["-fsanitize=thread"],
}


def _prune(folder: Path, keep: int = 200) -> None:
    """Keep the cache of compiled kernels to the `keep` most recent binaries."""
    try:
        bins = sorted(folder.glob("k_*"), key=lambda f: f.stat().st_mtime)
        for old in bins[:-keep]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


class _Build:
    """A compile in flight: Popen, or an already cached binary."""

    def __init__(self, source: str, sanitizer: str):
        cxx = cxx_compiler()
        if cxx is None:
            raise RuntimeError("the CPU path for CUDA C needs a C++20 compiler (g++ or clang++) on PATH")
        flags = ["-std=c++20", "-O1", "-g", "-pthread", "-w", *SANITIZER_FLAGS[sanitizer]]
        key = hashlib.sha256("\0".join([source, SHIM_HEADER.read_text(), cxx, _cxx_version(cxx), *flags])
                             .encode()).hexdigest()[:24]
        self.binary = cache_dir() / f"k_{key}_{sanitizer}"
        self.sanitizer = sanitizer
        self.proc = None
        if self.binary.exists():
            return
        _prune(cache_dir())
        self.workdir = Path(tempfile.mkdtemp(prefix="shim_build_", dir=cache_dir()))
        src = self.workdir / "main.cpp"
        src.write_text(source)
        self.tmp_binary = self.workdir / "a.out"
        self.proc = subprocess.Popen([cxx, *flags, "-I", str(HERE), str(src), "-o", str(self.tmp_binary)],
                                     cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait(self, timeout: float = 300) -> Path:
        if self.proc is not None:
            out, _ = self.proc.communicate(timeout=timeout)
            if self.proc.returncode != 0:
                shutil.rmtree(self.workdir, ignore_errors=True)
                raise _CxxError(out)
            os.replace(self.tmp_binary, self.binary)
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.proc = None
        return self.binary


class _CxxError(Exception):
    pass


def _cxx_error_message(out: str, source: str) -> str:
    lines = source.splitlines()
    msgs = []
    for line in out.splitlines():
        m = re.match(r"(?:.*/)?" + re.escape(SOURCE_NAME) + r":(\d+):(?:\d+:)? (error|fatal error): (.*)", line)
        if m:
            n = int(m.group(1))
            text = lines[n - 1].strip() if 0 < n <= len(lines) else ""
            msgs.append(f"line {n}: {m.group(3)}\n    {text}")
        elif re.search(r"launcher\.cpp:\d+:\d+: error", line):
            msgs.append(line.split("error:", 1)[1].strip())
    if not msgs:
        msgs = [l for l in out.splitlines() if "error" in l][:5] or [out[-2000:]]
    return "\n".join(msgs[:6])


def _write_launch(path: Path, launch: Launch, sig) -> None:
    g, b = launch.grid3, launch.block3
    with open(path, "wb") as f:
        f.write(b"CSHIM01\0")
        f.write(np.array(g, "<u4").tobytes() + np.array(b, "<u4").tobytes())
        f.write(np.array([launch.shared_mem], "<u8").tobytes())
        f.write(np.array([len(launch.args)], "<u4").tobytes())
        for a, (kind, _) in zip(launch.args, sig):
            if kind == "ptr":
                data = np.ascontiguousarray(a).tobytes()
                f.write(np.array([0, len(data)], "<u8").tobytes())
            else:
                data = np.asarray(a if isinstance(a, np.generic) else
                                  (np.int32(a) if isinstance(a, (int, bool)) else np.float32(a))).tobytes()
                f.write(np.array([1, len(data)], "<u8").tobytes())
            f.write(data)


def _read_outputs(path: Path, launch: Launch) -> list:
    raw = path.read_bytes()
    out, pos = [], 0
    for a in launch.args:
        if isinstance(a, np.ndarray):
            n = a.nbytes
            out.append(np.frombuffer(raw[pos:pos + n], dtype=a.dtype).reshape(a.shape).copy())
            pos += n
        else:
            out.append(None)
    return out


def _param_names(source: str, name: str) -> list[str]:
    m = re.search(r"\b" + re.escape(name) + r"\s*\(([^)]*)\)", source)
    if not m:
        return []
    names = []
    for p in m.group(1).split(","):
        ids = re.findall(r"[A-Za-z_]\w*", p.split("=")[0])
        names.append(ids[-1] if ids else "?")
    return names


@dataclass
class _SanRun:
    sanitizer: str
    returncode: int | None
    stderr: str
    stdout: str
    timed_out: bool
    elapsed: float


def _start(binary: Path, files: list[Path], sanitizer: str, no_aslr: bool = False):
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ("detect_leaks=0:halt_on_error=1:exitcode=86:abort_on_error=0:"
                           "detect_stack_use_after_return=0:print_summary=1:color=never")
    env["TSAN_OPTIONS"] = "halt_on_error=1:exitcode=66:report_signal_unsafe=0:color=never"
    cmd = [str(binary), *map(str, files)]
    if no_aslr and shutil.which("setarch"):
        cmd = ["setarch", os.uname().machine, "-R", *cmd]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True, errors="replace")


def _finish(proc, sanitizer: str, timeout: float, t0: float) -> _SanRun:
    out, err, timed_out = communicate(proc, timeout - (time.time() - t0))
    return _SanRun(sanitizer, None if timed_out else proc.returncode, err, out, timed_out,
                   time.time() - t0)


def _launch_of(stderr: str) -> int:
    found = re.findall(r"@@LAUNCH (\d+)", stderr)
    return int(found[-1]) if found else 0


def _arg_table(stderr: str, k: int) -> list[tuple[int, int, int]]:
    """(arg index, base address, bytes) of the arrays of launch k, as the launcher printed them."""
    part = stderr.split(f"@@LAUNCH {k}\n", 1)[-1].split("@@LAUNCH", 1)[0]
    return [(int(i), int(addr, 16), int(n)) for i, addr, n in re.findall(r"@@ARG (\d+) (0x[0-9a-f]+) (\d+)", part)]


def _elements(n: int) -> str:
    return f"{n} element" + ("" if n == 1 else "s")


def _line(source: str, n: int) -> str:
    lines = source.splitlines()
    return lines[n - 1].strip() if 0 < n <= len(lines) else ""


def _kernel_lines(block: str) -> list[int]:
    return [int(x) for x in re.findall(re.escape(SOURCE_NAME) + r":(\d+)", block)]


def _asan_message(run: _SanRun, source: str, launch: Launch, names: list[str]) -> str:
    err = run.stderr
    k = _launch_of(err)
    report = err[err.find("ERROR: AddressSanitizer"):]
    kind = re.search(r"AddressSanitizer: ([\w-]+)", report)
    kind = kind.group(1) if kind else "error"
    access = re.search(r"(READ|WRITE) of size (\d+) at (0x[0-9a-f]+)", report)
    lines = _kernel_lines(report)
    where = f" at line {lines[0]}: `{_line(source, lines[0])}`" if lines else ""
    thread = re.search(r"@@CUDA_THREAD (blockIdx=\([^)]*\) threadIdx=\([^)]*\))", err)
    who = f" by the thread {thread.group(1)}" if thread else ""
    verb = {"READ": "read", "WRITE": "write"}.get(access.group(1), "access") if access else "access"
    # A kernel frees nothing, so "use-after-free" means the access landed past its array in a chunk the
    # launcher freed earlier (another launch's array, a block's shared memory): out of bounds all the same.
    if access and kind in ("heap-buffer-overflow", "global-buffer-overflow", "stack-buffer-overflow",
                           "heap-use-after-free"):
        addr = int(access.group(3), 16)
        for i, base, nbytes in _arg_table(err, k):
            if base - 4096 <= addr < base + nbytes + 4096:
                a = launch.args[i]
                idx = (addr - base) // a.itemsize
                pname = names[i] if i < len(names) else f"argument {i}"
                return (f"out-of-bounds {verb} of {pname}[{idx}] ({pname} has {_elements(a.size)}){who}{where}. "
                        f"Threads whose index falls outside the data must not touch memory: add a bounds "
                        f"guard such as `if (i < n)`")
        g = re.search(r"global variable '([^']+)'", report)
        if g:
            var = g.group(1).split("::")[-1]
            return (f"out-of-bounds {verb} of the __shared__ (or global) array `{var}`{who}{where}; "
                    f"check the index against the array's size")
        return f"out-of-bounds {verb} ({kind}){who}{where}"
    if kind == "SEGV":
        return (f"the kernel accessed memory far outside any array (segmentation fault){who}{where}. "
                f"Check the indices and the bounds guard")
    summary = re.search(r"SUMMARY: AddressSanitizer: (.*)", report)
    return f"memory error found by AddressSanitizer: {summary.group(1) if summary else kind}{who}{where}"


def _tsan_message(run: _SanRun, source: str, launch: Launch, names: list[str]) -> str:
    err = run.stderr
    k = _launch_of(err)
    report = err[err.find("WARNING: ThreadSanitizer"):]
    first = re.search(r"\n  (Atomic )?(Write|Read) of size \d+ at (0x[0-9a-f]+) by thread (T\d+)[^\n]*:\n(.*?)\n\n",
                      report, re.S)
    prev = re.search(r"\n  Previous (atomic )?(write|read) of size \d+ at 0x[0-9a-f]+ by (?:thread (T\d+)|main thread)"
                     r"[^\n]*:\n(.*?)\n\n", report, re.S)
    thread_names = dict(re.findall(r"Thread (T\d+) '([^']*)'", report))

    def who(tid):
        nm = thread_names.get(tid, "")
        m = re.match(r"b([\d,]+) t([\d,]+)", nm)
        return f"thread {m.group(2)} of block {m.group(1)}" if m else (f"thread {tid}" if tid else "the host")

    def at(block):
        lines = _kernel_lines(block or "")
        return (f"line {lines[0]} `{_line(source, lines[0])}`", lines[0]) if lines else ("an unknown line", None)

    loc = re.search(r"Location is (global|heap block)[^\n]*", report)
    what = "memory"
    if loc and loc.group(1) == "global":
        g = re.search(r"global '([^']+)'", loc.group(0))
        what = f"the __shared__ array `{g.group(1).split('::')[-1]}`" if g else "a __shared__ array"
    elif first:
        addr = int(first.group(3), 16)
        for i, base, nbytes in _arg_table(err, k):
            if base <= addr < base + nbytes:
                pname = names[i] if i < len(names) else f"argument {i}"
                idx = (addr - base) // launch.args[i].itemsize
                what = f"{pname}[{idx}] (global memory)"
    if first is None:
        return "a data race found by ThreadSanitizer:\n" + report[:1500]
    a_text, _ = at(first.group(5))
    text = (f"race found by ThreadSanitizer on {what}: {who(first.group(4))} "
            f"{first.group(2).lower()}s it at {a_text}")
    if prev:
        p_text, _ = at(prev.group(4))
        text += f", while {who(prev.group(3))} {prev.group(2)}s it at {p_text}, with no __syncthreads() between"
    if "shared" in what:
        text += (". Put a __syncthreads() after the tile is loaded (before any thread reads it) and another "
                 "before it is overwritten")
    else:
        text += ". Threads that update the same element need an atomic (atomicAdd) or a reduction"
    return text


def _sanitized(source, name, launches, options, timeout, sanitizers, backend_label):
    """CPU shim: run every launch under each sanitizer; returns outputs of the first sanitizer's run."""
    sig = _arg_signature(launches[0].args)
    for L in launches[1:]:
        if _arg_signature(L.args) != sig:
            raise TypeError("all launches of one run must have the same argument types")
    code = launcher_source(source, name, sig)
    builds = {s: _Build(code, s) for s in sanitizers}
    binaries = {}
    for s, b in builds.items():
        try:
            binaries[s] = b.wait()
        except _CxxError as e:
            raise KernelCompileError("the CPU shim could not compile the kernel with the arguments given "
                                     "(NVRTC accepted it):\n" + _cxx_error_message(str(e), source),
                                     backend=backend_label) from None
    names = _param_names(source, name)
    with tempfile.TemporaryDirectory(prefix="shim_run_") as tmp:
        files = []
        for k, L in enumerate(launches):
            fin, fout = Path(tmp) / f"in{k}.bin", Path(tmp) / f"out{k}.bin"
            _write_launch(fin, L, sig)
            files += [fin, fout]
        t0 = time.time()
        procs = {s: _start(binaries[s], files, s) for s in sanitizers}
        limits = {s: timeout * (2 if s == "thread" else 1) for s in sanitizers}
        runs = {s: _finish(p, s, limits[s], t0) for s, p in procs.items()}
        for s, r in list(runs.items()):  # TSan on kernels with high ASLR entropy: retry without ASLR
            if r.returncode not in (0, None) and "unexpected memory mapping" in r.stderr:
                runs[s] = _finish(_start(binaries[s], files, s, no_aslr=True), s, limits[s], time.time())
        order = [s for s in ("address", "thread") if s in runs]
        # verdicts in order of how much they explain: out of bounds, then a race, then the rest
        verdicts = [(s, kind) for kind in ("asan", "race", "other") for s in order]
        for s, kind in verdicts:
            r = runs[s]
            k = _launch_of(r.stderr)
            label = launches[k].describe() if k < len(launches) else ""
            where = f"CPU shim, {'AddressSanitizer' if s == 'address' else 'ThreadSanitizer'}"
            if kind == "asan" and s == "address" and "ERROR: AddressSanitizer" in r.stderr:
                msg = _asan_message(r, source, launches[k], names)
                cls = OutOfBoundsError if "out-of-bounds" in msg or "outside any array" in msg else KernelCrash
                raise cls(msg, backend=where, launch=label)
            if kind == "race" and s == "thread" and "WARNING: ThreadSanitizer: data race" in r.stderr:
                raise RaceError(_tsan_message(r, source, launches[k], names), backend=where, launch=label)
            if kind != "other":
                continue
            if r.timed_out:
                raise KernelTimeout(
                    f"the kernel ran past the time limit of {limits[s]:.0f} s: an endless loop, or a loop "
                    f"whose index never reaches its bound?", backend=where, launch=label)
            if r.returncode != 0:
                tail = "\n".join(l for l in r.stderr.splitlines() if not l.startswith("@@"))[-1500:]
                raise KernelCrash(f"the kernel crashed (exit status {r.returncode}):\n{tail}",
                                  backend=where, launch=label)
        first = order[0]
        outputs = [_read_outputs(Path(tmp) / f"out{k}.bin", L) for k, L in enumerate(launches)]
        printed = runs[first].stdout
    names_used = " and ".join({"address": "AddressSanitizer", "thread": "ThreadSanitizer"}[s] for s in order)
    info = {"stdout": printed, "times": {s: round(r.elapsed, 2) for s, r in runs.items()}}
    return outputs, f"checked under {names_used}", info


# ---------------------------------------------------------------- GPU (CuPy)

GUARD_VALUE = 0x7E  # bytes of the guard zone after each array on the GPU


def _run_cupy(source, name, launches, options, timeout):
    import cupy as cp
    from cupy.cuda.compiler import CompileException
    try:
        kern = cp.RawKernel(source, name, options=tuple(options))
        kern.compile()
    except CompileException as e:
        raise KernelCompileError("the kernel does not compile:\n" + str(e), backend="GPU, CuPy") from None
    outputs = []
    for L in launches:
        dev, guards = [], []
        for a in L.args:
            if isinstance(a, np.ndarray):
                pad = max(1024, int(np.prod(L.grid3)) * int(np.prod(L.block3))) * a.itemsize
                raw = cp.full(a.nbytes + pad, GUARD_VALUE, dtype=cp.uint8)
                raw[:a.nbytes] = cp.asarray(np.ascontiguousarray(a).view(np.uint8).ravel())
                dev.append(raw[:a.nbytes].view(a.dtype))
                guards.append((raw, a))
            else:
                dev.append(a)
                guards.append(None)
        kern(L.grid3, L.block3, tuple(dev), shared_mem=L.shared_mem)
        ev = cp.cuda.Event()
        ev.record()
        t0 = time.time()
        while not ev.done:
            if time.time() - t0 > timeout:
                raise KernelTimeout(f"the kernel ran past the time limit of {timeout:.0f} s (it is still running "
                                    f"on the GPU: restart the runtime)", backend="GPU, CuPy", launch=L.describe())
            time.sleep(0.001)
        out = []
        for g, pname in zip(guards, _param_names(source, name) or [None] * len(guards)):
            if g is None:
                out.append(None)
                continue
            raw, a = g
            host = cp.asnumpy(raw)
            tail = host[a.nbytes:]
            if (tail != GUARD_VALUE).any():
                first = int(np.flatnonzero(tail != GUARD_VALUE)[0]) // a.itemsize
                raise OutOfBoundsError(
                    f"out-of-bounds write past the end of {pname or 'an array'}: element "
                    f"[{a.size + first}] was written ({_elements(a.size)}). Add a bounds guard such as `if (i < n)`",
                    backend="GPU, CuPy", launch=L.describe())
            out.append(host[:a.nbytes].view(a.dtype).reshape(a.shape).copy())
        outputs.append(out)
    return outputs, kern


def run_cuda_c(source: str, name: str, launches: Sequence[Launch], *, options: Sequence[str] = (),
               backend: str = "auto", timeout: float = 30.0,
               sanitizers: Sequence[str] = ("address", "thread")) -> KernelRun:
    """Run `launches` of the CUDA C kernel `name` from `source`; see the module docstring."""
    from .device import detect
    launches = list(launches)
    if not launches:
        raise ValueError("no launches")
    on_gpu = backend == "gpu" or (backend == "auto" and detect().cuda)
    dev = detect()
    no_cupy = None
    if on_gpu:
        try:
            import cupy  # noqa: F401
        except ImportError:
            if backend == "gpu":
                raise
            on_gpu, no_cupy = False, "CuPy is not installed: the kernel ran on the CPU shim, not on the GPU"
    cc = dev.compute_capability if (on_gpu and dev.compute_capability) else DEFAULT_CC
    label = f"GPU ({dev.name}), cupy.RawKernel" if on_gpu else "CPU shim"
    for L in launches:
        validate_launch(L.grid, L.block, backend=label, label=L.describe())
    nv = check_compiles(source, name, options, cc=cc, backend_label="NVRTC")
    notes = [nv.note()]
    info: dict = {"nvrtc": {"registers": nv.registers, "shared_bytes": nv.shared_bytes, "log": nv.log}}
    if on_gpu:
        # The sanitizers first, so that a race or a missing guard fails for that reason on a GPU
        # machine too, before the GPU shows only wrong values.
        if sanitizers and cxx_compiler():
            _, note, sinfo = _sanitized(source, name, launches, options, timeout, sanitizers, "CPU shim")
            notes.append(f"also {note} on the CPU")
            info["shim"] = sinfo
        outputs, kern = _run_cupy(source, name, launches, options, timeout)
        info["gpu"] = {"num_regs": getattr(kern, "num_regs", None)}
        return KernelRun(label, outputs, notes, [None] * len(launches), info)
    if not sanitizers:
        raise ValueError("the CPU path needs at least one sanitizer ('address' gives the values)")
    outputs, note, sinfo = _sanitized(source, name, launches, options, timeout, list(sanitizers), label)
    info["shim"] = sinfo
    if no_cupy:
        notes.append(no_cupy)
    return KernelRun(f"{label} ({note[len('checked under '):]})", outputs, notes, [None] * len(launches), info)


if __name__ == "__main__":  # python -m autograder.cuda_c file.cu kernel_name: compile report
    text = Path(sys.argv[1]).read_text()
    print(check_compiles(text, sys.argv[2]).note())

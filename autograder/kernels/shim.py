"""A CUDA C kernel built as a CPU program: the C++20 shim, its builds, its cache, its runs.

`cuda_shim.h` gives CUDA's built-ins to ordinary C++ (one thread per CUDA thread, a barrier
for __syncthreads, warps meeting at shuffles, blocks one at a time). The student's source
(its `extern __shared__` declarations rewritten, its line numbers kept) becomes a small
translation unit that includes only that header and defines `cudashim_call`, which calls the
kernel with a launch's arguments; it is linked with `cuda_shim_runtime.cpp` (threads,
barriers, warps, the launcher's main), compiled once per build kind and cached. Three kinds:
"address" and "thread" (AddressSanitizer, ThreadSanitizer) and "count" (global reads and
writes per array, barriers, two threads writing one element: see the runtime's header).
Each binary is cached by a hash of everything that went into it.

Known limitations: no textures, no half precision; `extern __shared__` must be declared inside
a function; __shared__ contents carry from one block to the next (undefined on a GPU). The
"count" build needs GCC or Clang's -fsanitize=kernel-address; without it the counts are skipped.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import children
from . import procs
from .errors import source_line
from .launch import Launch
from .nvrtc import SOURCE_NAME
from .params import declared
from .toolchain import cache_dir, cxx_compiler, cxx_version

HERE = Path(__file__).resolve().parent
SHIM_HEADER = HERE / "cuda_shim.h"
SHIM_RUNTIME = HERE / "cuda_shim_runtime.cpp"
KINDS = ("address", "thread", "count")
C_TYPES = {
    np.dtype(np.float32): "float", np.dtype(np.float64): "double",
    np.dtype(np.int8): "signed char", np.dtype(np.uint8): "unsigned char",
    np.dtype(np.int16): "short", np.dtype(np.uint16): "unsigned short",
    np.dtype(np.int32): "int", np.dtype(np.uint32): "unsigned int",
    np.dtype(np.int64): "long long", np.dtype(np.uint64): "unsigned long long",
    np.dtype(np.bool_): "bool",
}
SANITIZER_FLAGS = {
    "address": ["-fsanitize=address", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"],
    "thread": ["-fsanitize=thread"],
    "count": [],
}
SANITIZER_OPTIONS = {
    "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:exitcode=86:abort_on_error=0:"
                    "detect_stack_use_after_return=0:print_summary=1:color=never",
    "TSAN_OPTIONS": "halt_on_error=1:exitcode=66:report_signal_unsafe=0:color=never",
}
STUB_UNIT = '#include "cuda_shim.h"\nextern "C" void cudashim_call(void* const*) {}\n'   # a kernel doing nothing
_DYN_SHARED = re.compile(
    r"extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_][\w\s]*?[\w])\s+(\w+)\s*\[\s*\]\s*;")


def shim_source(source: str) -> str:
    """The student's source, made into C++ for the shim (same line numbers)."""
    return _DYN_SHARED.sub(
        lambda m: f"{m.group(1)}* {m.group(2)} = reinterpret_cast<{m.group(1)}*>(::cudashim::g_dynamic_smem);",
        source)


def _scalar(a) -> np.generic:
    """A scalar as CuPy passes it: NumPy's as it is; a Python int as int64, a float as float64."""
    if isinstance(a, np.generic):
        return a
    if isinstance(a, bool):
        return np.bool_(a)
    return np.int64(a) if isinstance(a, int) else np.float64(a)


def signature(args: Sequence) -> list[tuple[str, str]]:
    """("ptr" or "scalar", C type) of each argument of a launch."""
    sig = []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            kind, dt = "ptr", a.dtype
        elif isinstance(a, (np.generic, int, float, bool)):
            kind, dt = "scalar", np.asarray(_scalar(a)).dtype
        else:
            raise TypeError(f"argument {i}: pass NumPy arrays and NumPy scalars, got {type(a).__name__}")
        if dt not in C_TYPES:
            raise TypeError(f"argument {i}: dtype {dt} is not supported by the CPU shim")
        sig.append((kind, C_TYPES[dt]))
    return sig


def kernel_unit(source: str, name: str, sig: list[tuple[str, str]]) -> str:
    """The kernel's translation unit: the header, the kernel (as kernel.cu, line 1 on), the call."""
    args = ", ".join(f"*static_cast<{ctype}* const*>(a[{i}])" if kind == "ptr"
                     else f"*static_cast<const {ctype}*>(a[{i}])" for i, (kind, ctype) in enumerate(sig))
    return (f'#include "cuda_shim.h"\n#line 1 "{SOURCE_NAME}"\n{shim_source(source)}\n'
            f'#line 1 "launcher.cpp"\nextern "C" void cudashim_call(void* const* a) {{ {name}({args}); }}\n')


def param_names(source: str, name: str) -> list[str]:
    """The names of kernel `name`'s parameters in the CUDA C source, for messages."""
    return [p.name for p in declared(source, name) or []]


# ---------------------------------------------------------------- building

class CxxError(Exception):
    """The C++ compiler refused the program; the text is its output."""


def _is_clang(cxx: str) -> bool:
    return "clang" in cxx_version(cxx).lower()


def _flags(kind: str, cxx: str, part: str) -> list[str]:
    """Compiler flags of a build kind for the kernel unit ("kernel"), the runtime, or the link."""
    if part == "link":
        return ["-pthread", *SANITIZER_FLAGS[kind]]
    base = ["-std=c++20", "-O1", "-g", "-w", "-pthread"]
    if kind != "count":
        return base + SANITIZER_FLAGS[kind]
    if part == "runtime":
        return base + ["-DCUDASHIM_COUNT"]
    # every load and store of the kernel calls __asan_{load,store}N_noabort, which the runtime counts
    opts = ["asan-instrumentation-with-call-threshold=0", "asan-stack=0", "asan-globals=0"]
    if _is_clang(cxx):
        return base + ["-fsanitize=kernel-address"] + [x for o in opts for x in ("-mllvm", "-" + o)]
    return base + ["-fsanitize=kernel-address", "-fno-sanitize-address-use-after-scope"] + \
        [x for o in opts for x in ("--param", o)]


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _prune(folder: Path, keep: int = 300) -> None:
    """Keep the cache of compiled kernels to the `keep` most recent binaries."""
    try:
        bins = sorted(folder.glob("k_*"), key=lambda f: f.stat().st_mtime)
        for old in bins[:-keep]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


_runtimes: dict[Path, "Compile"] = {}


class Compile:
    """One compiler run into `target`, started at once, renamed into place when it succeeds."""

    def __init__(self, cmd: list[str], source_text: str, target: Path):
        self.target = target
        self.workdir = Path(tempfile.mkdtemp(prefix="shim_build_", dir=target.parent))
        (self.workdir / "unit.cpp").write_text(source_text)
        self.proc = children.start([*cmd, "unit.cpp", "-o", "out"], cwd=str(self.workdir))

    def wait(self, timeout: float = 300) -> Path:
        if self.proc is not None:
            out, err, timed_out = children.wait(self.proc, timeout)
            ok = self.proc.returncode == 0 and not timed_out
            if ok:
                os.replace(self.workdir / "out", self.target)
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.proc = None
            if not ok:
                raise CxxError(out + err if not timed_out else f"the C++ compiler ran past {timeout:.0f} s")
        return self.target


def _runtime(kind: str, cxx: str) -> Compile | Path:
    """The runtime object of a build kind: cached, or a compile in flight (shared in this process)."""
    flags = _flags(kind, cxx, "runtime")
    key = _key(SHIM_RUNTIME.read_text(), SHIM_HEADER.read_text(), cxx, cxx_version(cxx), *flags)
    target = cache_dir("cuda_shim") / f"rt_{key}_{kind}.o"
    if target.exists():
        return target
    job = _runtimes.get(target)
    if job is None or job.proc is None:
        job = _runtimes[target] = Compile([cxx, *flags, "-I", str(HERE), "-c"], SHIM_RUNTIME.read_text(), target)
    return job


class Build:
    """A kernel binary of one kind: already cached, or its compile started at once (so that the
    kinds build side by side), linked with the runtime in `wait`."""

    def __init__(self, unit: str, kind: str):
        cxx = cxx_compiler()
        if cxx is None:
            raise RuntimeError("the CPU path for CUDA C needs a C++20 compiler (g++ or clang++) on PATH")
        self.cxx, self.kind = cxx, kind
        flags = _flags(kind, cxx, "kernel")
        key = _key(unit, SHIM_HEADER.read_text(), SHIM_RUNTIME.read_text(), cxx, cxx_version(cxx), *flags)
        folder = cache_dir("cuda_shim")
        self.binary = folder / f"k_{key}_{kind}"
        self.unit = self.runtime = None
        if self.binary.exists():
            return
        _prune(folder)
        self.runtime = _runtime(kind, cxx)
        self.unit = Compile([cxx, *flags, "-I", str(HERE), "-c"], unit, folder / f"o_{key}_{kind}.o")

    def wait(self, timeout: float = 300) -> Path:
        if self.unit is not None:
            obj = self.unit.wait(timeout)
            rt = self.runtime.wait(timeout) if isinstance(self.runtime, Compile) else self.runtime
            tmp = self.binary.with_name(self.binary.name + f".{os.getpid()}.tmp")
            done = subprocess.run([self.cxx, str(obj), str(rt), *_flags(self.kind, self.cxx, "link"), "-o", str(tmp)],
                                  capture_output=True, text=True, timeout=timeout)
            obj.unlink(missing_ok=True)
            if done.returncode != 0:
                raise CxxError(done.stdout + done.stderr)
            os.replace(tmp, self.binary)
            self.unit = None
        return self.binary


def cxx_error_message(out: str, source: str) -> str:
    """The C++ compiler's errors on the kernel, each with its line number and the line itself."""
    msgs = []
    for line in out.splitlines():
        m = re.match(r"(?:.*/)?" + re.escape(SOURCE_NAME) + r":(\d+):(?:\d+:)? (error|fatal error): (.*)", line)
        if m:
            n = int(m.group(1))
            msgs.append(f"line {n}: {m.group(3)}\n    {source_line(source, n)}")
        elif re.search(r"launcher\.cpp:\d+:\d+: error", line):
            msgs.append(line.split("error:", 1)[1].strip())
    if not msgs:
        msgs = [l for l in out.splitlines() if "error" in l][:5] or [out[-2000:]]
    return "\n".join(msgs[:6])


# ---------------------------------------------------------------- running

def write_launch(path: Path, launch: Launch, sig) -> None:
    """One launch in the launcher's input format: grid, block, shared bytes, the blocks to run,
    then each argument (kind, bytes, element size, data)."""
    g, b = launch.grid3, launch.block3
    first, count = (launch.blocks.start, len(launch.blocks)) if launch.blocks is not None else (0, 0)
    with open(path, "wb") as f:
        f.write(b"CSHIM02\0")
        f.write(np.array(g, "<u4").tobytes() + np.array(b, "<u4").tobytes())
        f.write(np.array([launch.shared_mem, first, count], "<u8").tobytes())
        f.write(np.array([len(launch.args)], "<u4").tobytes())
        for a, (kind, _) in zip(launch.args, sig):
            arr = np.ascontiguousarray(a) if kind == "ptr" else np.asarray(_scalar(a))
            f.write(np.array([0 if kind == "ptr" else 1, arr.nbytes, arr.itemsize], "<u8").tobytes())
            f.write(arr.tobytes())


def read_outputs(path: Path, launch: Launch) -> list:
    """The arrays the launcher wrote back, in argument order (None for scalars)."""
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


@dataclass
class ShimRun:
    """One binary's run over all the launches."""
    sanitizer: str
    returncode: int | None
    stderr: str
    stdout: str
    timed_out: bool
    elapsed: float
    limit: float = 0.0


def start_run(binary: Path, files: list[Path], no_aslr: bool = False, env: dict | None = None):
    """Start a shim binary on its launch files, with the sanitizers' options."""
    cmd = [str(binary), *map(str, files)]
    if no_aslr and shutil.which("setarch"):
        cmd = ["setarch", os.uname().machine, "-R", *cmd]
    return children.start(cmd, env={**os.environ, **SANITIZER_OPTIONS, **(env or {})},
                       writable=tuple(sorted({str(Path(f).parent) for f in files})), readable=(str(binary),))


def finish_run(proc, sanitizer: str, limit, t0: float) -> ShimRun:
    """Wait for a shim binary: `limit` is seconds from `t0`, or a procs.Limit (scaled to a reference)."""
    if isinstance(limit, procs.Limit):
        out, err, timed_out, seconds = procs.wait_scaled(proc, limit, t0)
    else:
        seconds = float(limit)
        out, err, timed_out = children.wait(proc, limit - (time.time() - t0))
    return ShimRun(sanitizer, None if timed_out else proc.returncode, err, out, timed_out, time.time() - t0, seconds)

"""A CUDA C kernel built as a CPU program: the C++20 shim, its launcher, its cache, its runs.

`cuda_shim.h` gives CUDA's built-ins to ordinary C++ (one thread per CUDA thread, a barrier
for __syncthreads, blocks one at a time). Here the student's source (its `extern __shared__`
declarations rewritten, its line numbers kept) is compiled against it with a generated `main`
that reads each launch's grid, block and arguments from a file, runs the kernel and writes the
arrays back. One binary per sanitizer, cached by a hash of everything that went in.

Known limitations: no warps (shuffles, votes, __syncwarp), no textures, no half precision;
`extern __shared__` must be declared inside a function; __shared__ contents carry from one
block to the next (undefined on a GPU). Scalars are converted to the declared parameter type.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import procs
from .errors import source_line
from .launch import Launch
from .nvrtc import SOURCE_NAME
from .toolchain import cache_dir, cxx_compiler, cxx_version

HERE = Path(__file__).resolve().parent
SHIM_HEADER = HERE / "cuda_shim.h"
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
}
SANITIZER_OPTIONS = {
    "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:exitcode=86:abort_on_error=0:"
                    "detect_stack_use_after_return=0:print_summary=1:color=never",
    "TSAN_OPTIONS": "halt_on_error=1:exitcode=66:report_signal_unsafe=0:color=never",
}
_DYN_SHARED = re.compile(
    r"extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_][\w\s]*?[\w])\s+(\w+)\s*\[\s*\]\s*;")


def shim_source(source: str) -> str:
    """The student's source, made into C++ for the shim (same line numbers)."""
    return _DYN_SHARED.sub(
        lambda m: f"{m.group(1)}* {m.group(2)} = reinterpret_cast<{m.group(1)}*>(::cudashim::g_dynamic_smem);",
        source)


def _scalar(a) -> np.generic:
    """A Python scalar as CuPy would pass it (int -> int32, float -> float32); NumPy's as it is."""
    if isinstance(a, np.generic):
        return a
    return np.int32(a) if isinstance(a, (int, bool)) else np.float32(a)


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


def launcher_source(source: str, name: str, sig: list[tuple[str, str]]) -> str:
    """The whole C++ program: the shim, the kernel (as kernel.cu, line 1 on), a main that calls it."""
    params = [f"L.ptr<{ctype}>({i})" if kind == "ptr" else f"L.scalar<{ctype}>({i})"
              for i, (kind, ctype) in enumerate(sig)]
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


def param_names(source: str, name: str) -> list[str]:
    """The names of kernel `name`'s parameters in the CUDA C source, for messages."""
    code = re.sub(r"//[^\n]*|/\*.*?\*/", " ", source, flags=re.S)   # a comment may name it first
    m = (re.search(r"__global__[^;{}]*?\b" + re.escape(name) + r"\s*\(([^)]*)\)", code)
         or re.search(r"\b" + re.escape(name) + r"\s*\(([^)]*)\)", code))
    if not m:
        return []
    names = []
    for p in m.group(1).split(","):
        ids = re.findall(r"[A-Za-z_]\w*", p.split("=")[0])
        names.append(ids[-1] if ids else "?")
    return names


# ---------------------------------------------------------------- building

def _prune(folder: Path, keep: int = 200) -> None:
    """Keep the cache of compiled kernels to the `keep` most recent binaries."""
    try:
        bins = sorted(folder.glob("k_*"), key=lambda f: f.stat().st_mtime)
        for old in bins[:-keep]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


class CxxError(Exception):
    """The C++ compiler refused the program; the text is its output."""


class Build:
    """A compile in flight (started at once, so that both sanitizers build side by side), or an
    already cached binary."""

    def __init__(self, program: str, sanitizer: str):
        cxx = cxx_compiler()
        if cxx is None:
            raise RuntimeError("the CPU path for CUDA C needs a C++20 compiler (g++ or clang++) on PATH")
        flags = ["-std=c++20", "-O1", "-g", "-pthread", "-w", *SANITIZER_FLAGS[sanitizer]]
        key = hashlib.sha256("\0".join([program, SHIM_HEADER.read_text(), cxx, cxx_version(cxx), *flags])
                             .encode()).hexdigest()[:24]
        folder = cache_dir("cuda_shim")
        self.binary = folder / f"k_{key}_{sanitizer}"
        self.proc = None
        if self.binary.exists():
            return
        _prune(folder)
        self.workdir = Path(tempfile.mkdtemp(prefix="shim_build_", dir=folder))
        (self.workdir / "main.cpp").write_text(program)
        self.proc = procs.start([cxx, *flags, "-I", str(HERE), "main.cpp", "-o", "a.out"], cwd=str(self.workdir))

    def wait(self, timeout: float = 300) -> Path:
        if self.proc is not None:
            out, err, timed_out = procs.wait(self.proc, timeout)
            ok = self.proc.returncode == 0 and not timed_out
            if ok:
                os.replace(self.workdir / "a.out", self.binary)
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.proc = None
            if not ok:
                raise CxxError(out + err if not timed_out else f"the C++ compiler ran past {timeout:.0f} s")
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
    """One launch in the launcher's input format: grid, block, shared bytes, then each argument."""
    g, b = launch.grid3, launch.block3
    with open(path, "wb") as f:
        f.write(b"CSHIM01\0")
        f.write(np.array(g, "<u4").tobytes() + np.array(b, "<u4").tobytes())
        f.write(np.array([launch.shared_mem], "<u8").tobytes())
        f.write(np.array([len(launch.args)], "<u4").tobytes())
        for a, (kind, _) in zip(launch.args, sig):
            data = np.ascontiguousarray(a).tobytes() if kind == "ptr" else np.asarray(_scalar(a)).tobytes()
            f.write(np.array([0 if kind == "ptr" else 1, len(data)], "<u8").tobytes())
            f.write(data)


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
    """One sanitized binary's run over all the launches."""
    sanitizer: str
    returncode: int | None
    stderr: str
    stdout: str
    timed_out: bool
    elapsed: float


def start_run(binary: Path, files: list[Path], no_aslr: bool = False):
    """Start a shim binary on its launch files, with the sanitizers' options."""
    env = {**os.environ, **SANITIZER_OPTIONS}
    cmd = [str(binary), *map(str, files)]
    if no_aslr and shutil.which("setarch"):
        cmd = ["setarch", os.uname().machine, "-R", *cmd]
    return procs.start(cmd, env=env, writable=tuple(sorted({str(Path(f).parent) for f in files})),
                       readable=(str(binary),))


def finish_run(proc, sanitizer: str, timeout: float, t0: float) -> ShimRun:
    """Wait for a shim binary until `timeout` seconds after `t0`."""
    out, err, timed_out = procs.wait(proc, timeout - (time.time() - t0))
    return ShimRun(sanitizer, None if timed_out else proc.returncode, err, out, timed_out, time.time() - t0)

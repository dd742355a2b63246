"""What AddressSanitizer, ThreadSanitizer and the counter reported on the CUDA C shim, told to the student.

A sanitizer's report names addresses, C++ frames and host threads. The shim's launcher prints
what maps them back (`@@LAUNCH k`, `@@ARG i address bytes`, `@@CUDA_THREAD blockIdx=..
threadIdx=..`, and threads named `b<block> t<thread>`), so that a report becomes "out-of-bounds
read of a[1000] (a has 1000 elements) by the thread ... at line 3: `...`", or a race on a
__shared__ array between two named threads with the two lines.

Known limitations: the reports are parsed as GCC's and Clang's sanitizers word them today; a
report of another shape is passed on as the sanitizer's own summary.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from typing import Sequence

import numpy as np

from . import procs
from .errors import source_line
from .launch import AccessCount, Launch
from .nvrtc import SOURCE_NAME
from .shim import ShimRun


def _arg_table(stderr: str, k: int) -> list[tuple[int, int, int]]:
    """(arg index, base address, bytes) of the arrays of launch k, as the launcher printed them."""
    part = stderr.split(f"@@LAUNCH {k}\n", 1)[-1].split("@@LAUNCH", 1)[0]
    return [(int(i), int(addr, 16), int(n)) for i, addr, n in re.findall(r"@@ARG (\d+) (0x[0-9a-f]+) (\d+)", part)]


def _elements(n: int) -> str:
    return f"{n} element" + ("" if n == 1 else "s")


def _kernel_lines(block: str) -> list[int]:
    return [int(x) for x in re.findall(re.escape(SOURCE_NAME) + r":(\d+)", block)]


def asan_message(run: ShimRun, source: str, launch: Launch, names: list[str]) -> str:
    """The AddressSanitizer binary's report: which array, which index, which thread, which line."""
    err = run.stderr
    k = procs.launch_of(err)
    report = err[err.find("ERROR: AddressSanitizer"):]
    kind = re.search(r"AddressSanitizer: ([\w-]+)", report)
    kind = kind.group(1) if kind else "error"
    access = re.search(r"(READ|WRITE) of size (\d+) at (0x[0-9a-f]+)", report)
    lines = _kernel_lines(report)
    where = f" at line {lines[0]}: `{source_line(source, lines[0])}`" if lines else ""
    thread = re.search(r"@@CUDA_THREAD (blockIdx=\([^)]*\) threadIdx=\([^)]*\))", err)
    who = f" by the thread {thread.group(1)}" if thread else ""
    verb = {"READ": "read", "WRITE": "write"}.get(access.group(1), "access") if access else "access"
    # A kernel frees nothing, so "use-after-free" means the access landed past its array in a chunk the
    # launcher freed earlier (another launch's array, a block's shared memory): out of bounds all the same;
    # "use-after-poison" is the launcher's guard zone around each array.
    if access and kind in ("heap-buffer-overflow", "global-buffer-overflow", "stack-buffer-overflow",
                           "heap-use-after-free", "use-after-poison"):
        addr = int(access.group(3), 16)
        for i, base, nbytes in _arg_table(err, k):
            guard = nbytes + 4096 + 64     # the launcher's poisoned zones around each array
            if base - guard <= addr < base + nbytes + guard:
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


def _element(launch: Launch, names, i: int, flat: int) -> str:
    """`out[3, 4]` for element `flat` of argument i (its own shape), as a message names it."""
    a = launch.args[i]
    pname = names[i] if i < len(names) else f"argument {i}"
    idx = np.unravel_index(flat, a.shape) if 0 <= flat < a.size else (flat,)
    return f"{pname}[{', '.join(str(int(x)) for x in idx)}]"


RACE_ADVICE_SHARED = ("Put a __syncthreads() after the tile is loaded (before any thread reads it) and another "
                      "before it is overwritten")
RACE_ADVICE_GLOBAL = "Threads that update the same element need an atomic (atomicAdd) or a reduction"


def tsan_message(run: ShimRun, source: str, launch: Launch, names: list[str]) -> tuple[str, str, dict]:
    """The ThreadSanitizer binary's race, (facts, advice, info): on what, by which two threads, at
    which two lines."""
    err = run.stderr
    k = procs.launch_of(err)
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
        return (f"line {lines[0]} `{source_line(source, lines[0])}`", lines[0]) if lines else ("an unknown line", None)

    loc = re.search(r"Location is (global|heap block)[^\n]*", report)
    what, info = "memory", {"kind": "race", "shared": False}
    if loc and loc.group(1) == "global":
        g = re.search(r"global '([^']+)'", loc.group(0))
        what = f"the __shared__ array `{g.group(1).split('::')[-1]}`" if g else "a __shared__ array"
        info.update(shared=True, array=g.group(1).split("::")[-1] if g else None)
    elif first:
        addr = int(first.group(3), 16)
        for i, base, nbytes in _arg_table(err, k):
            if base <= addr < base + nbytes:
                flat = (addr - base) // launch.args[i].itemsize
                what = f"{_element(launch, names, i, flat)} (global memory)"
                info.update(array=names[i] if i < len(names) else f"argument {i}", index=flat)
    if first is None:
        return "a data race found by ThreadSanitizer:\n" + report[:1500], "", info
    a_text, _ = at(first.group(5))
    text = (f"race found by ThreadSanitizer on {what}: {who(first.group(4))} "
            f"{first.group(2).lower()}s it at {a_text}")
    info["writes"] = [first.group(2).lower() == "write"]
    info["threads"] = [t for t in (_coords(thread_names.get(first.group(4), "")),
                                   _coords(thread_names.get(prev.group(3) or "", "")) if prev else None) if t]
    if prev:
        p_text, _ = at(prev.group(4))
        text += f", while {who(prev.group(3))} {prev.group(2)}s it at {p_text}, with no __syncthreads() between"
        info["writes"].append(prev.group(2) == "write")
    return text, RACE_ADVICE_SHARED if info["shared"] else RACE_ADVICE_GLOBAL, info


def _coords(thread_name: str):
    """(block, thread) coordinates from a shim thread's name "b<block> t<thread>", or None."""
    m = re.match(r"b([\d,]+) t([\d,]+)$", thread_name)
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split(",")), tuple(int(x) for x in m.group(2).split(","))


def _ids(launch: Launch, gid: int):
    """(block, thread) coordinates of the runtime's global linear thread index."""
    per = int(np.prod(launch.block3))
    b, t = divmod(gid, per)
    g, k = launch.grid3, launch.block3
    return ((b % g[0], b // g[0] % g[1], b // (g[0] * g[1])), (t % k[0], t // k[0] % k[1], t // (k[0] * k[1])))


def _thread_of(launch: Launch, gid: int) -> str:
    """`thread (3, 1) of block (2, 0)` for the global linear thread index the runtime counts."""
    per = int(np.prod(launch.block3))
    b, t = divmod(gid, per)
    def coords(v, ext):
        out = []
        for e in ext:
            out.append(v % e)
            v //= e
        while len(out) > 1 and ext[len(out) - 1] == 1:
            out.pop()
        return str(out[0]) if len(out) == 1 else "(" + ", ".join(map(str, out)) + ")"
    return f"thread {coords(t, launch.block3)} of block {coords(b, launch.grid3)}"


def _line_at(binary, offset: str) -> int | None:
    """The kernel.cu line of a code address in `binary` (addr2line), or None."""
    tool = shutil.which("addr2line")
    if not tool or not binary:
        return None
    try:
        out = subprocess.run([tool, "-e", str(binary), offset], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(re.escape(SOURCE_NAME) + r":(\d+)", out)
    return int(m.group(1)) if m else None


def double_write_message(run: ShimRun, source: str, launches, names: list[str], binary=None):
    """The count binary's report of two threads writing one element, as (facts, advice, info, launch)."""
    m = re.search(r"@@DOUBLE_WRITE (\d+) (\d+) (\d+) (\d+) (\d+) (0x[0-9a-f]+)", run.stderr)
    if not m:
        return None
    k, i, flat, g1, g2 = (int(x) for x in m.groups()[:5])
    launch = launches[k]
    line = _line_at(binary, m.group(6))
    where = f" at line {line}: `{source_line(source, line)}`" if line else ""
    elem = _element(launch, names, i, flat)
    facts = (f"two threads write {elem}: {_thread_of(launch, g1)} and then {_thread_of(launch, g2)}{where} "
             f"(on a GPU the two writes race, in whatever order the blocks run)")
    info = {"kind": "double write", "array": names[i] if i < len(names) else f"argument {i}", "index": flat,
            "shared": False, "writes": [True, True], "threads": [_ids(launch, g1), _ids(launch, g2)]}
    return facts, "Each element should have one writer: check how the index is computed and the bounds guard", \
        info, k


def counts(stderr: str, launches: Sequence[Launch], names: Sequence[str]) -> list[AccessCount | None]:
    """The "count" binary's figures per launch: element reads and writes per array, and more."""
    out: list[AccessCount | None] = [None] * len(launches)
    for k, L in enumerate(launches):
        acc = AccessCount()
        for i, r, w in re.findall(rf"@@ACC {k} (\d+) (\d+) (\d+)", stderr):
            i = int(i)
            name = names[i] if i < len(names) else f"argument {i}"
            if int(r):
                acc.reads[name] = int(r)
            if int(w):
                acc.writes[name] = int(w)
        m = re.search(rf"@@PERTHREAD {k} (\d+) (\d+) (\d+) (\d+)", stderr)
        if m:
            acc.max_reads_per_thread, acc.max_writes_per_thread, acc.threads, acc.barriers = map(int, m.groups())
            out[k] = acc
    return out

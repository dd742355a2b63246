"""What AddressSanitizer and ThreadSanitizer reported on the CUDA C shim, told to the student.

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

from . import procs
from .errors import source_line
from .launch import Launch
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


def tsan_message(run: ShimRun, source: str, launch: Launch, names: list[str]) -> str:
    """The ThreadSanitizer binary's race: on what, by which two threads, at which two lines."""
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

"""How long do the kernel checks of chapters 2-5 take, and how soon is a hang reported? A plain
script (not a test): prints a table.

    python benchmarks/bench_kernels.py [--chapters ch02,ch05] [--lines N] [--no-hang] [--no-fresh]

For every check line of every graded cell (visible, then hidden) of each chapter's solution
notebook, run on the solution's own kernels: "cold" is the first check of a new source (each
CUDA C source gets a fresh comment, so NVRTC and the shim's builds run again; a Numba kernel's
first check in this process), "warm" the same line again. Then the totals per chapter, the
first CUDA C check on an empty cache (the shim's runtime objects built too), and the seconds
from the start of a check to the report of a kernel that never ends (CUDA C and Numba). Beside
each time, the CPU seconds it cost (this process and its children): on a busy machine, the
figure to read (a quiet 2-core machine needs about half of it, or the longest single step).
The device probe a notebook's setup cell makes (it imports torch) is timed apart, first.
Numbers depend on the machine and its load: run it on a quiet machine, and say which.
"""
from __future__ import annotations

import argparse
import linecache
import os
import re
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import kernels  # noqa: E402

CHAPTERS = ("ch02_first_kernels", "ch03_thread_hierarchy", "ch04_2d_grids", "ch05_matmul_layer")
HANG_C = ('extern "C" __global__ void vector_add(const float* a, const float* b, float* out, int n) {\n'
          '    volatile int k = 0;\n    while (k < n) { k = k * 2; }\n}\n')
HANG_NUMBA = "@cuda.jit\ndef spin(a, b, out):\n    k = 0\n    while k < out.size:\n        k = k * 2\n"


def notebook(slug: str):
    return nbformat.read(str(ROOT / "solutions" / slug / f"{slug}.ipynb"), as_version=4)


def answers(slug: str) -> dict:
    """The namespace of the solution's answer cells (what a student's notebook defines), their
    source kept where inspect finds it (as IPython keeps a cell's), so kernels can be shipped."""
    ns: dict = {}
    for i, c in enumerate(notebook(slug).cells):
        if c.metadata.get("nbgrader", {}).get("solution"):
            src = "\n".join(l for l in c.source.splitlines() if "### " not in l) + "\n"
            filename = f"<{slug} cell {i}>"
            linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
            exec(compile(src, filename, "exec"), ns)
    return ns


def check_lines(slug: str):
    """(grade id, hidden?, statement) for each check call of the graded cells, imports first."""
    out = []
    for c in notebook(slug).cells:
        meta = c.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        hidden = False
        for line in c.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                hidden = True
            elif line.strip() and not line.startswith("#"):
                out.append((meta["grade_id"], hidden, line))
    return out


def renew_sources(ns: dict) -> None:
    """Give each CUDA C source a new comment: its next check is the first of a new source."""
    tag = uuid.uuid4().hex[:8]
    for k, v in list(ns.items()):
        if isinstance(v, str) and "__global__" in v:
            ns[k] = re.sub(r"\n// bench [0-9a-f]+\n$", "", v) + f"\n// bench {tag}\n"


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children: on a loaded machine, what a check
    costs (a quiet 2-core machine needs at least half of it in wall time)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


CPU: list = []


def timed(stmt: str, ns: dict) -> float:
    t0, c0 = time.perf_counter(), cpu_seconds()
    exec(stmt, ns)
    CPU.append(cpu_seconds() - c0)
    return time.perf_counter() - t0


def bench_chapter(slug: str, rows: list, most: int | None = None) -> tuple[float, float]:
    ns = answers(slug)
    renew_sources(ns)
    lines = check_lines(slug)
    if most is not None:   # the imports, and the first `most` check lines
        calls = [ln for ln in lines if not ln[2].startswith(("from ", "import "))][:most]
        lines = [ln for ln in lines if ln[2].startswith(("from ", "import ")) or ln in calls]
    cold_total = warm_total = 0.0
    for gid, hidden, stmt in lines:
        if stmt.startswith(("from ", "import ")):
            exec(stmt, ns)
            continue
        cold = timed(stmt, ns)
        warm = timed(stmt, ns)
        cold_total += cold
        warm_total += warm
        rows.append((slug[:4], gid, "hidden" if hidden else "visible", cold, warm, CPU[-2], CPU[-1]))
    return cold_total, warm_total


def first_on_empty_cache() -> float:
    """The first CUDA C check on a machine that has built nothing yet (runtime objects too)."""
    old = os.environ.get("GPU_COURSE_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GPU_COURSE_CACHE"] = tmp
        try:
            from autograder import ch02_first_kernels as ch02
            src = ch02.VECTOR_ADD_C + f"\n// bench {uuid.uuid4().hex[:8]}\n"
            t0 = time.perf_counter()
            kernels.check_vector_add(src, name="vector_add", backend="cpu", verbose=False)
            return time.perf_counter() - t0
        finally:
            if old is None:
                os.environ.pop("GPU_COURSE_CACHE", None)
            else:
                os.environ["GPU_COURSE_CACHE"] = old


def hang_seconds(kernel, name) -> tuple[float, str]:
    t0 = time.perf_counter()
    try:
        kernels.check_vector_add(kernel, name=name, backend="cpu", sizes=(5, 300), verbose=False)
    except kernels.KernelTimeout as e:
        return time.perf_counter() - t0, str(e)
    return time.perf_counter() - t0, "no timeout?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chapters", default=",".join(c[:4] for c in CHAPTERS))
    ap.add_argument("--lines", type=int, default=None, help="at most this many check lines per chapter")
    ap.add_argument("--no-hang", action="store_true")
    ap.add_argument("--no-fresh", action="store_true")
    args = ap.parse_args()
    wanted = [c for c in CHAPTERS if c[:4] in args.chapters.split(",")]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    from autograder.device import detect
    t0 = time.perf_counter()
    dev = detect()     # what a notebook's setup cell does first (it imports torch to look for a GPU)
    print(f"device probe, as the setup cell runs it: {time.perf_counter() - t0:.1f} s ({dev.describe()})", flush=True)
    rows: list = []
    totals = {}
    for slug in wanted:
        totals[slug] = bench_chapter(slug, rows, args.lines)
        print(f"  {slug}: done", flush=True)
    print(f"\n{'chapter':8} {'cell':22} {'draw':8} {'cold s':>8} {'warm s':>8} {'cold cpu s':>11} {'warm cpu s':>11}")
    for ch, gid, draw, cold, warm, ccpu, wcpu in rows:
        print(f"{ch:8} {gid:22} {draw:8} {cold:8.2f} {warm:8.2f} {ccpu:11.2f} {wcpu:11.2f}")
    print(f"\n{'chapter':24} {'cold s':>8} {'warm s':>8}")
    for slug, (cold, warm) in totals.items():
        print(f"{slug:24} {cold:8.1f} {warm:8.1f}")
    if not args.no_fresh:
        print(f"\nfirst CUDA C check on an empty cache (runtime objects built too): {first_on_empty_cache():.2f} s")
    if not args.no_hang:
        for label, kernel, name in (("CUDA C", HANG_C, "vector_add"), ("Numba", HANG_NUMBA, None)):
            seconds, msg = hang_seconds(kernel, name)
            print(f"a {label} kernel that never ends, reported after {seconds:.1f} s: {msg[:160]}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

"""A class graded with `dev.py grade`'s machinery, 1 and 2 processes and a 2-worker Dask LocalCluster
(a benchmark, not a test): `.venv/bin/python benchmarks/bench_classroom.py [--n 40] [--slug S]`.

N copies of one chapter's solution, as loose downloads named by student id, graded from scratch
in a fresh throwaway course per mode (`grade_class.grade`, feedback and export included). It
prints the seconds of each mode, the seconds per submission and the speed-up over one process,
and writes them to benchmarks/results/classroom.json with the machine's core count.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder.grading import grade_class  # noqa: E402
from autograder.grading.release import tool_env  # noqa: E402

MODES = {"1 process": dict(workers=1), "2 processes": dict(workers=2),
         "2-worker LocalCluster": dict(workers=2, cluster=True)}


def solved(slug: str) -> str:
    """The released notebook with the solution's answers filled in (the tests' `solved`)."""
    import nbformat
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import solved as filled
    return nbformat.writes(filled(slug))


def course(tmp: Path, slug: str) -> Path:
    c = tmp / "course"
    (c / "solutions" / slug).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", c)
    shutil.copy(ROOT / "solutions" / slug / f"{slug}.ipynb", c / "solutions" / slug)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", slug, "--force",
                    "--log-level=ERROR"], cwd=c, check=True, capture_output=True, env=tool_env())
    return c


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--slug", default="ch01_cpu_vs_gpu")
    a = p.parse_args()
    out = {"slug": a.slug, "submissions": a.n, "cores": os.cpu_count(), "machine": platform.processor()
           or platform.machine(), "date": date.today().isoformat(), "gpu": False, "modes": {}}
    for mode, kw in MODES.items():
        with tempfile.TemporaryDirectory(prefix="bench-classroom-") as tmp:
            tmp = Path(tmp)
            c = course(tmp, a.slug)
            downloads = tmp / "downloads"
            downloads.mkdir()
            (tmp / "roster.csv").write_text("student_id\n" + "".join(f"s{i:03d}\n" for i in range(a.n)))
            text = solved(a.slug)
            for i in range(a.n):
                (downloads / f"s{i:03d}_{a.slug}.ipynb").write_text(text)
            t0 = time.perf_counter()
            s = grade_class.grade(c, a.slug, downloads, tmp / "roster.csv", log=lambda m: None, **kw)
            secs = time.perf_counter() - t0
            assert len(s["graded"]) == a.n and not s["failed"], s["failed"]
            out["modes"][mode] = {"seconds": round(secs, 1), "per_submission": round(secs / a.n, 2),
                                  "load_average_after": round(os.getloadavg()[0], 1)}   # shared machines
            print(f"{mode:>22}: {secs:6.1f} s, {secs / a.n:5.2f} s per submission", flush=True)
    one = out["modes"]["1 process"]["seconds"]
    for m in out["modes"].values():
        m["speedup_over_1"] = round(one / m["seconds"], 2)
    print({k: v["speedup_over_1"] for k, v in out["modes"].items()})
    dest = ROOT / "benchmarks" / "results" / "classroom.json"
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(f"written {dest}")


if __name__ == "__main__":
    main()

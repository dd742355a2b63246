"""Grading time per chapter, with nbgrader's own Execute and with the course's Verdict (a benchmark,
not a test): `.venv/bin/python benchmarks/bench_grading.py [slug ...] [--repeat N]`.

Each chapter's solution is graded by a real `nbgrader autograde` in a throwaway course, once with
the kernel running every cell, test cells and hidden tests included (nbgrader's Execute: what
the course did before the outside verdict), once with the Verdict: the sandboxed kernel plus
the checks decided in nbgrader's process. It prints the seconds of each and their ratio (the
issue's budget is at most 1.3; a run where the solution does not get full marks stops with an
error) and, with `--save`, writes them to benchmarks/results/grading.json
with the machine's cores and its load average (a ratio from a busy machine says little).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from autograder.grading.release import solutions, tool_env  # noqa: E402

EXECUTE = """
from nbgrader.preprocessors import Execute
c.Autograde.autograde_preprocessors = [Execute] + c.Autograde.autograde_preprocessors[1:]
"""


def nbgrader(course: Path, *args) -> None:
    # a compile cache of its own (cold): a class's kernels are each new to the grader, where the
    # instructor's cache holds the solution's from every earlier run (a baseline 4x too fast, ch02)
    env = dict(tool_env(), GPU_COURSE_CACHE=str(course / ".cache"))
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--log-level=ERROR"], cwd=course,
                          capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def seconds(slug: str, config: str) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        course = Path(tmp)
        shutil.copy(ROOT / "nbgrader_config.py", course)
        with open(course / "nbgrader_config.py", "a") as f:
            f.write(config)
        shutil.copytree(ROOT / "solutions" / slug, course / "solutions" / slug)
        nbgrader(course, "generate_assignment", slug, "--force")
        (course / "submitted" / "s" / slug).mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / slug / f"{slug}.ipynb", course / "submitted" / "s" / slug)
        t0 = time.perf_counter()
        nbgrader(course, "autograde", slug, "--force")
        took = time.perf_counter() - t0
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            sub = gb.find_submission(slug, "s")
            if sub.score != sub.max_score:    # a fast grading that failed the solution means nothing
                raise RuntimeError(f"{slug}: the solution scored {sub.score} of {sub.max_score}")
        return took


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("slugs", nargs="*", help="chapters (default: all)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, the median kept")
    ap.add_argument("--save", action="store_true", help="write benchmarks/results/grading.json")
    args = ap.parse_args(argv)
    out = {"date": date.today().isoformat(), "cores": os.cpu_count(), "gpu": False,
           "load_average_before": round(os.getloadavg()[0], 1), "repeat": args.repeat, "chapters": {}}
    print(f"{'chapter':26s} {'Execute s':>10s} {'Verdict s':>10s} {'ratio':>6s}", flush=True)
    for slug in args.slugs or solutions():
        before = statistics.median(seconds(slug, EXECUTE) for _ in range(args.repeat))
        after = statistics.median(seconds(slug, "") for _ in range(args.repeat))
        out["chapters"][slug] = {"execute_s": round(before, 1), "verdict_s": round(after, 1),
                                 "ratio": round(after / before, 2)}
        print(f"{slug:26s} {before:10.1f} {after:10.1f} {after / before:6.2f}", flush=True)
    out["load_average_after"] = round(os.getloadavg()[0], 1)
    if args.save:
        dest = ROOT / "benchmarks" / "results" / "grading.json"
        dest.write_text(json.dumps(out, indent=1) + "\n")
        print(f"written {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

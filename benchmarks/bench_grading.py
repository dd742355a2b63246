"""Grading time per chapter, with nbgrader's own Execute and with the course's Verdict (a benchmark,
not a test): `.venv/bin/python benchmarks/bench_grading.py [slug ...] [--repeat N]`.

Each chapter's solution is graded by a real `nbgrader autograde` in a throwaway course, once with
the kernel running every cell, test cells and hidden tests included (nbgrader's Execute: what
the course did before the outside verdict), once with the Verdict: the sandboxed kernel plus
the checks decided in nbgrader's process. It prints the seconds of each and their ratio (the
issue's budget is at most 1.3; a run where the solution does not get full marks stops with an
error; the Execute run's own score is recorded beside it) and, with `--save`, writes them to
benchmarks/results/grading.json after each chapter (`--merge` keeps the file's other chapters),
with the machine's cores and each chapter's load average (a ratio from a busy machine says little).
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


def graded(slug: str, config: str) -> tuple[float, float, float]:
    """(seconds, score, max score) of one `nbgrader autograde` of the solution."""
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
            return took, sub.score, sub.max_score


def _dirty() -> bool:
    """Uncommitted changes to the code measured (the package, the config)."""
    return bool(subprocess.run(["git", "status", "--porcelain", "autograder", "nbgrader_config.py"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("slugs", nargs="*", help="chapters (default: all)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, the median kept")
    ap.add_argument("--save", action="store_true", help="write benchmarks/results/grading.json")
    ap.add_argument("--merge", action="store_true", help="with --save: keep the file's other chapters")
    args = ap.parse_args(argv)
    dest = ROOT / "benchmarks" / "results" / "grading.json"
    out = {"date": date.today().isoformat(), "cores": os.cpu_count(), "gpu": False, "repeat": args.repeat,
           "cold_compile_cache": True, "chapters": {}}
    if args.merge and dest.exists():
        out["chapters"] = json.loads(dest.read_text()).get("chapters", {})
    print(f"{'chapter':26s} {'Execute s':>10s} {'Verdict s':>10s} {'ratio':>6s}", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() + ("+" if _dirty() else "")
    for slug in args.slugs or solutions():
        load = round(os.getloadavg()[0], 1)
        runs = {mode: [graded(slug, config) for _ in range(args.repeat)]
                for mode, config in (("execute", EXECUTE), ("verdict", ""))}
        scores = {(score, full) for _, score, full in runs["verdict"]}
        score, full = scores.pop() if len(scores) == 1 else (None, -1)
        if score != full:                   # a fast grading that failed the solution means nothing
            raise RuntimeError(f"{slug}: the solution did not get full marks under the Verdict: {runs['verdict']}")
        before, after = (statistics.median(r[0] for r in runs[m]) for m in ("execute", "verdict"))
        # the old way's score: some checks now refuse a live answer in the kernel (they want
        # fresh processes), so Execute may score the solution lower; its time is the baseline
        out["chapters"][slug] = {"execute_s": round(before, 1), "verdict_s": round(after, 1),
                                 "ratio": round(after / before, 2), "execute_score": runs["execute"][0][1],
                                 "max_score": full, "load_average_before": load, "commit": commit}
        print(f"{slug:26s} {before:10.1f} {after:10.1f} {after / before:6.2f}", flush=True)
        if args.save:                       # written after each chapter: a long run keeps what it measured
            dest.write_text(json.dumps(out, indent=1) + "\n")
    return 0

if __name__ == "__main__":
    sys.exit(main())

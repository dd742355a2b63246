"""The exercise index, made from solutions/ when the book is built, so that it cannot drift.

One row per solutions/<slug>/<slug>.ipynb: the chapter (its page, by name), what the student
writes (the functions and CUDA C sources the answer cells define), the points (the sum of the
graded cells'), the time to budget on a CPU and on a Colab T4, an Open-in-Colab badge and a
download link. The time is the notebook's own estimate of the work (`course.work_minutes` in
its metadata, written by its author) plus how long the solved notebook takes to run on that
machine, where a run has measured it: on a CPU, benchmarks/colab_stack.py (Colab's versions,
this repository's CPU machine); on a GPU, `dev.py gpu-figures` (autograder/results/solutions.json,
named by the GPU it ran on). Where nothing has measured a run, the table says so.

`markdown()` is MyST (the exercises page renders it with `markdown_format: myst`), so a chapter
without a page or a notebook that is not there fails the book's build.
"""
from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import nbformat

from .. import results
from .release import COLAB, ROOT, repository, solutions

BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
CPU_RUNS = Path("benchmarks") / "results" / "colab_stack.json"
WORDS_PER_MINUTE = 200    # reading prose with code and figures: a slow reader's pace


def _written(source: str) -> list[str]:
    """Names an answer cell defines: its functions and its CUDA C sources (NAME_SRC)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return []
    names = [n.name for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    names += [t.id for n in body if isinstance(n, ast.Assign) for t in n.targets
              if isinstance(t, ast.Name) and t.id.endswith("_SRC")]
    return names


def _gpu_runs() -> tuple[str | None, dict]:
    data = results.load("solutions")
    if not data:
        return None, {}
    return data["environment"]["device"], data["figures"]


def _cpu_runs(root: Path) -> dict:
    path = root / CPU_RUNS
    if not path.exists():
        return {}
    return {slug: modes.get("solved", {}) for slug, modes in json.loads(path.read_text())["runs"].items()}


def reading_minutes(slug: str, root: Path = ROOT) -> int:
    """The chapter page's words (prose and code) at WORDS_PER_MINUTE, rounded up to 5 minutes."""
    page = root / "book" / f"{slug}.md"
    words = len(page.read_text().split()) if page.exists() else 0
    return 5 * math.ceil(words / WORDS_PER_MINUTE / 5)


def exercises(root: Path = ROOT) -> list[dict]:
    """One dict per exercise, in chapter order (see the module's docstring)."""
    url, branch = repository(root)
    repo = url.split("github.com/", 1)[-1]
    gpu, gpu_runs = _gpu_runs()
    cpu_runs = _cpu_runs(root)
    rows = []
    for slug in solutions(root):
        nb = nbformat.read(root / "solutions" / slug / f"{slug}.ipynb", as_version=4)
        graded = [c.metadata.get("nbgrader", {}) for c in nb.cells]
        written = [n for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
                   for n in _written(c.source)]
        cpu, on_gpu = cpu_runs.get(slug, {}), gpu_runs.get(slug, {})
        rows.append({
            "slug": slug,
            "writes": written,
            "points": sum(g.get("points", 0) for g in graded if g.get("grade")),
            "work_minutes": nb.metadata.get("course", {}).get("work_minutes"),
            "reading_minutes": reading_minutes(slug, root),
            "cpu_run_seconds": cpu.get("seconds") if cpu.get("ok") else None,
            "gpu": gpu if on_gpu.get("passed") else None,
            "gpu_run_seconds": on_gpu.get("seconds") if on_gpu.get("passed") else None,
            "colab": COLAB.format(repo=repo, branch=branch, slug=slug),
            "notebook": f"exercises/{slug}/{slug}.ipynb",
        })
    return rows


def _time(work, seconds) -> str:
    """"45 + 3 min": work, then the run; "45 min + ?" where no run has measured it."""
    head = f"{work}" if work else "?"
    if seconds is None:
        return f"{head} min + ?"
    return f"{head} + {max(1, round(seconds / 60))} min"


def markdown(page_dir: str = "book") -> str:
    """The index as a MyST table, for a page in `page_dir` (paths are relative to it)."""
    up = "../" * len(Path(page_dir).parts)
    rows = exercises()
    gpus = sorted({r["gpu"] for r in rows if r["gpu"] and "T4" not in r["gpu"]})
    lines = ["| chapter | what you write | points | time on a CPU | time on a Colab T4"
             + (f" (measured on {', '.join(gpus)})" if gpus else "") + " | notebook |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        writes = ", ".join(f"`{n}`" for n in r["writes"]) or "(see the notebook)"
        lines.append(
            f"| {{doc}}`{r['slug']}` | {writes} | {r['points']} | "
            f"{_time(r['work_minutes'], r['cpu_run_seconds'])} | "
            f"{_time(r['work_minutes'], r['gpu_run_seconds'])} | "
            f"[![Open In Colab]({BADGE})]({r['colab']}) "
            f"{{download}}`download <{up}{r['notebook']}>` |")
    return "\n".join(lines)

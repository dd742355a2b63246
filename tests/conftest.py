"""Shared helpers: run notebooks, and grade submissions through a real nbgrader course.

`Course` is a throwaway nbgrader course directory holding one assignment generated from
solutions/, with its own gradebook; tests drop submissions in and read the exported grades.
"""
from __future__ import annotations

import copy
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.grading.release import tool_env

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
NOTEBOOKS = sorted(p.relative_to(ROOT) for d in ("solutions", "exercises")
                   for p in (ROOT / d).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def read(path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def execute(nb, timeout=300) -> nbformat.NotebookNode:
    """Run a notebook top to bottom; a failing cell raises CellExecutionError."""
    nb = copy.deepcopy(nb)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


def solution(slug) -> nbformat.NotebookNode:
    return read(ROOT / "solutions" / slug / f"{slug}.ipynb")


def release(slug) -> nbformat.NotebookNode:
    return read(ROOT / "exercises" / slug / f"{slug}.ipynb")


def cell(nb, grade_id):
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return c
    raise KeyError(grade_id)


def scenario(slug: str, situation: str) -> dict[str, str]:
    """The answer cells of one situation a test grades, from tests/scenarios/<slug>/<situation>.py.

    The file is a student's answers in cell form: each `# %% <grade_id>` line starts the cell of
    that grade id (what `solved(slug, **scenario(...))` puts in the notebook); text before the
    first such line is a comment on the situation, and is left out.
    """
    path = SCENARIOS / slug / f"{situation}.py"
    cells, current = {}, None
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("# %% "):
            current = line[5:].strip()
            cells[current] = ""
        elif current is not None:
            cells[current] += line
    if not cells:
        raise ValueError(f"{path}: no '# %% <grade_id>' cell")
    return {gid: text.strip("\n") + "\n" for gid, text in cells.items()}


def unmarked(text: str) -> str:
    """An answer cell's code as a student would write it: the solution markers' lines removed."""
    return "\n".join(l for l in text.splitlines() if "### BEGIN SOLUTION" not in l
                     and "### END SOLUTION" not in l) + "\n"


def defined(text: str, name: str, **namespace):
    """What answer cell text (solution or scenario) defines under `name`, run in `namespace` as
    a notebook cell runs: in `__main__`, its source readable by `inspect`, so that a check can
    ship it to another process."""
    import linecache
    code = unmarked(text)
    filename = f"<answer {name} {abs(hash(code))}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    namespace.setdefault("__name__", "__main__")
    exec(compile(code, filename, "exec"), namespace)
    return namespace[name]


def solved(slug, **answers) -> nbformat.NotebookNode:
    """The released notebook with every answer cell filled in as a student would: the
    solution's code without the nbgrader markers, or the text given for that grade id."""
    nb, sol = release(slug), solution(slug)
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("solution"):
            gid = meta["grade_id"]
            if gid in answers:
                c.source = answers[gid]
            else:
                c.source = unmarked(cell(sol, gid).source).rstrip("\n")
    return nb


def nbgrader(course: Path, *args, check=True):
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"],
                          cwd=course, capture_output=True, text=True, env=tool_env())
    if check and done.returncode:
        raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


class Course:
    """A throwaway course of one assignment (`slug`), or of several (`also`: more slugs)."""

    def __init__(self, root: Path, slug: str, timeout: int, notebooks: tuple[str, ...] = ()):
        """An assignment `slug` of one chapter's notebook or, with `notebooks`, of several
        chapters' notebooks together (graded in one `nbgrader autograde` run)."""
        self.root, self.slug = root, slug
        shutil.copy(ROOT / "nbgrader_config.py", root)
        # per-cell limit short enough for a test of a looping submission
        with open(root / "nbgrader_config.py", "a") as f:
            f.write(f"\nc.Execute.timeout = {timeout}\n")
        (root / "solutions" / slug).mkdir(parents=True)
        for s in notebooks or (slug,):
            shutil.copy(ROOT / "solutions" / s / f"{s}.ipynb", root / "solutions" / slug)
        nbgrader(root, "generate_assignment", slug, "--force")

    def submit(self, student: str, nb, notebook: str | None = None) -> None:
        folder = self.root / "submitted" / student / self.slug
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(folder / f"{notebook or self.slug}.ipynb"))

    def autograde(self):
        return nbgrader(self.root, "autograde", self.slug, "--force")

    def scores(self) -> dict[str, float]:
        """student -> score, read from what `nbgrader export` writes."""
        nbgrader(self.root, "export")
        with open(self.root / "grades.csv") as f:
            return {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)
                    if row["assignment"] == self.slug}

    def grade(self, submissions: dict) -> dict[str, float]:
        """Submit each student's notebook, autograde them all, and return the exported scores."""
        for student, nb in submissions.items():
            self.submit(student, nb)
        self.autograde()
        return self.scores()

    def graded(self, student, notebook: str | None = None) -> nbformat.NotebookNode:
        return read(self.root / "autograded" / student / self.slug / f"{notebook or self.slug}.ipynb")

    def output(self, student, grade_id=None, clean=False, notebook: str | None = None) -> str:
        """What the graded notebook (or its cell `grade_id`) printed, tracebacks included;
        clean=True also asserts that no cell of it raised."""
        nb = self.graded(student, notebook)
        outs = [o for x in ([cell(nb, grade_id)] if grade_id else nb.cells) for o in x.get("outputs", [])]
        if clean:
            assert "error" not in {o.get("output_type") for o in outs}, f"{student}: a cell raised"
        return "".join(o.get("text", "") + "".join(o.get("traceback", [])) for o in outs)


@pytest.fixture
def course(tmp_path):
    def make(slug, timeout=60):
        return Course(tmp_path, slug, timeout)
    return make


@pytest.fixture(scope="module")
def one_thread():
    """Part III's steps are tiny: one torch thread runs them faster than two contended ones,
    here and in the measuring subprocesses (they inherit OMP_NUM_THREADS). No figure depends
    on it: the meter counts bytes, and one thread or two give the same losses and accuracies."""
    import torch
    mp, threads = pytest.MonkeyPatch(), torch.get_num_threads()
    mp.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    mp.undo()


def answer_text(slug: str, grade_id: str) -> str:
    """The solution's code in answer cell `grade_id`, without the nbgrader markers: what a
    test defines to pass the reference answer to a check (the package holds no answer)."""
    lines = cell(solution(slug), grade_id).source.splitlines()
    return "\n".join(l for l in lines if "### BEGIN SOLUTION" not in l and "### END SOLUTION" not in l)

"""The gauntlet: hostile submissions across five chapters, graded in ONE `nbgrader autograde` run.

Each file in tests/scenarios/gauntlet/ is one attack, with its chapter, the notebook it starts
from (the release, or the solution) and its fair score written before it was ever run. The
test asserts that no score is inflated and no honest point lost, that the batch completes, that
nothing a submission started is left running, that the gradebook holds only what nbgrader
wrote, and that the course's files are as they were.
"""
import contextlib
import hashlib
import os
import re
import sqlite3
import subprocess
import threading

import psutil

import pytest

from conftest import ROOT, SCENARIOS, Course, release, scenario, solved

GAUNTLET = SCENARIOS / "gauntlet"
TIMEOUT = 20        # seconds a cell may run: the attacks that hang cost this, once each


def attacks() -> dict[str, dict]:
    """name -> {chapter, base, score} from each scenario's header lines."""
    found = {}
    for path in sorted(GAUNTLET.glob("*.py")):
        head = dict(re.findall(r"^# (chapter|base|score): (\S+)$", path.read_text(), re.M))
        found[path.stem] = {**head, "score": float(head["score"])}
    return found


def notebook(attack: str, spec: dict):
    # {ROOT}: the checkout under test (the one the course is installed from), wherever it is
    answers = {k: v.replace("{ROOT}", str(ROOT)) for k, v in scenario("gauntlet", attack).items()}
    return (solved if spec["base"] == "solution" else _released)(spec["chapter"], **answers)


def _released(slug, **answers):
    nb = release(slug)
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            c.source = answers[gid]
    return nb


def _digest(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.read_bytes())
    return h.hexdigest()


def _leftovers() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if "time.sleep(30)" in l or "time.sleep(60)" in l
            or "ipykernel_launcher" in l and "submission-" in l]


@contextlib.contextmanager
def _kernels_alive(course_root):
    """Yields a list that ends up holding the most notebook kernels (their guard processes) the
    course's `nbgrader autograde` had alive at once, sampled twice a second."""
    most, done, root = [0], threading.Event(), os.path.realpath(course_root)

    def sample():
        while not done.wait(0.5):
            for p in psutil.process_iter(["cmdline", "cwd"]):
                with contextlib.suppress(psutil.Error):
                    cmd = " ".join(p.info["cmdline"] or ())
                    if "nbgrader autograde" in cmd and os.path.realpath(p.info["cwd"] or "/") == root:
                        guards = [c for c in p.children() if c.status() != psutil.STATUS_ZOMBIE
                                  and "ipykernel_launcher" in " ".join(c.cmdline())]
                        most[0] = max(most[0], len(guards))

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        yield most
    finally:
        done.set()
        t.join()


def test_there_are_thirty_attacks_across_five_chapters():
    found = attacks()
    assert len(found) >= 30
    assert {a["chapter"] for a in found.values()} >= {"ch01_cpu_vs_gpu", "ch02_first_kernels",
                                                       "ch07_mixed_precision", "ch09_inplace",
                                                       "ch10_lean_optimizers"}


@pytest.mark.usefixtures("one_thread")
def test_one_batch_of_hostile_submissions_grades_fairly(tmp_path):
    found = attacks()
    chapters = tuple(sorted({a["chapter"] for a in found.values()}))
    # one assignment holding the five chapters' notebooks: one autograde run grades them all
    course = Course(tmp_path, "gauntlet", TIMEOUT, notebooks=chapters)
    package = list((ROOT / "autograder").rglob("*.py"))
    before = _digest(package)
    for name, spec in found.items():
        course.submit(name, notebook(name, spec), spec["chapter"])
    # graded after the attack that writes into the installed package: its fair 0 still holds
    course.submit("zz-unchanged-after-the-package-was-attacked", release("ch01_cpu_vs_gpu"), "ch01_cpu_vs_gpu")
    with _kernels_alive(tmp_path) as most:
        course.autograde()                                      # the batch completes
    assert 1 <= most[0] <= 2, f"{most[0]} notebooks' kernels alive at once"   # each shut down after its notebook
    got = course.scores()
    want = {n: a["score"] for n, a in found.items()}
    want["zz-unchanged-after-the-package-was-attacked"] = 0.0
    wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    assert not wrong, f"student: (graded, fair) {wrong}"
    assert _leftovers() == []                                   # nothing a submission started lives on
    assert _digest(package) == before                           # the course's code is as it was
    with sqlite3.connect(tmp_path / "gradebook.db") as db:      # only nbgrader wrote grades
        assert db.execute("select count(*) from grade where manual_score is not null").fetchone() == (0,)
    out = course.output("kernel_includes_solutions", "c_diff_check", notebook="ch02_first_kernels")
    # nothing of the file leaked (its path may be quoted back: it is the student's own #include)
    assert not [m for m in ("HIDDEN TESTS", "BEGIN SOLUTION", "cell_type", '"nbgrader"') if m in out], out[-2000:]
    assert "not found" in out or "cannot open" in out or "No such file" in out, out[-2000:]

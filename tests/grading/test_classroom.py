"""A class graded with one command: collected from downloads, graded in parallel (2 processes, and
a 2-worker Dask LocalCluster), merged into one gradebook, fed back, exported; the grades are those
of a serial `nbgrader autograde`. Chapter 1 grades fastest; each mode grades the class once
(module fixtures) and every assertion reads that run. The machine is told it has two GPUs
(CUDA_VISIBLE_DEVICES=0,1): each job is handed one of them. The Dask run grades part of the
class (one submission of each way a job can end), which keeps the test's time down."""
import csv
import os
import sqlite3
import zipfile
from datetime import datetime, timezone

import nbformat
import pytest

from autograder.grading import classroom, grade_class
from autograder.grading.batch import DRILL
from conftest import Course, release, scenario, solved

SLUG = "ch01_cpu_vs_gpu"
ON_TIME = datetime(2025, 12, 30, 12, 0, tzinfo=timezone.utc)
DUE = "2026-01-01 00:00:00 UTC"
LATE = datetime(2026, 1, 2, 12, 0, tzinfo=timezone.utc)
ROSTER = [("s01", "Alan", "Turing"), ("s02", "Ada", "Lovelace"), ("s03", "Edsger", "Dijkstra"),
          ("s04", "Barbara", "Liskov"), ("s05", "Grace", "Hopper"), ("s06", "Donald", "Knuth"),
          ("s07", "Ken", "Thompson"), ("s08", "Frances", "Allen"), ("s09", "John", "Backus"),
          ("s10", "Leslie", "Lamport"), ("s11", "Tony", "Hoare"), ("s12", "Niklaus", "Wirth"),
          ("s13", "Edgar", "Codd")]                                  # hands nothing in


def text(nb) -> str:
    """The notebook as a student's file, without the page-like cell that times NumPy and Numba
    up to 10**7 elements: it grades nothing (nbgrader does not put an unlocked cell back), and
    the class is graded three times over."""
    nb.cells = [c for c in nb.cells if "ch01.measure(" not in c.source]
    return nbformat.writes(nb)


def contents() -> dict[str, str]:
    """The distinct notebooks the class hands in, by kind."""
    return {"correct": text(solved(SLUG)), "unchanged": text(release(SLUG)),
            "no_sync": text(solved(SLUG, **scenario(SLUG, "no_sync_timer"))),
            "raises": text(solved(SLUG, **scenario(SLUG, "raises"))),
            "cheat": text(solved(SLUG, **scenario(SLUG, "cheat_attempt"))),
            # hostile: the kernel ends itself in the model cell; later checks score 0
            "hostile": text(solved(SLUG, model_answer="import os\nos._exit(3)"))}


# student -> the kind of notebook handed in (s06 hands in broken JSON, and one file is nobody's)
KINDS = {"s01": "correct", "s02": "correct", "s03": "no_sync", "s04": "raises", "s05": "unchanged",
         "s07": "hostile", "s08": "unchanged", "s09": "cheat", "s10": "correct", "s11": "unchanged",
         "s12": "correct"}
ON_DASK = {"s01", "s04", "s07", "s08", "s10"}    # correct, raising, hostile, late, killed worker


def loose(folder, name, data: str, when=ON_TIME):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)
    os.utime(path, (when.timestamp(), when.timestamp()))


def zipped(path, members: dict[str, str]):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, ON_TIME.timetuple()[:6]), data)


# Each download: (whose, name, notebook kind or raw text, modification time); "nobody" matches no one
DOWNLOADS = [
    ("s01", f"s01_{SLUG}.ipynb", "correct", ON_TIME),
    ("s02", f"Copy of {SLUG} - Ada Lovelace.ipynb", "correct", ON_TIME),         # Colab's name
    ("s03", f"{SLUG} (1) s03.ipynb", "no_sync", ON_TIME),                       # browser's name
    ("s06", f"s06 {SLUG}.ipynb", '{"cells": [ not json', ON_TIME),               # broken
    ("s07", f"thompson_ken/{SLUG}.ipynb", "hostile", ON_TIME),
    ("s08", f"s08_{SLUG}.ipynb", "unchanged", LATE),                            # late
    ("s09", f"backusjohn_99_{SLUG}.ipynb", "cheat", ON_TIME),                  # Canvas-like name
    ("s10", f"s10_{SLUG}.ipynb", "correct", ON_TIME),                          # its worker is killed
    ("s11", f"Copy of {SLUG} Tony Hoare.ipynb", "unchanged", ON_TIME),
    ("s12", f"s12/{SLUG}.ipynb", "correct", datetime(2025, 12, 31, tzinfo=timezone.utc)),
    ("nobody", f"Copy of {SLUG} (2).ipynb", "correct", ON_TIME),
]


def make_downloads(root, name, only=None):
    """The class's downloads folder (with `only`: those students' files alone)."""
    d, nb = root / name, contents()
    for who, fname, kind, when in DOWNLOADS:
        if only is None or who in only:
            loose(d, fname, nb.get(kind, kind), when)
    if only is None or "s04" in only:
        zipped(d / "s04.zip", {f"{SLUG}.ipynb": nb["raises"]})
    if only is None:
        zipped(d / "moodle-all.zip", {                                         # LMS "download all"
            f"Grace Hopper_4711_assignsubmission_file_/{SLUG}.ipynb": nb["unchanged"],
            f"Niklaus Wirth_4712_assignsubmission_file_/{SLUG} (1).ipynb": nb["unchanged"]})
    return d


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    d = make_downloads(root, "downloads")
    make_downloads(root, "dask-downloads", ON_DASK | {"s06"})
    roster = root / "roster.csv"
    with open(roster, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "first_name", "last_name", "email"])
        w.writerows([(i, a, b, f"{i}@example.edu") for i, a, b in ROSTER])
    return root, d, roster


def course_for(root, name):
    from nbgrader.api import Gradebook
    (root / name).mkdir()
    c = Course(root / name, SLUG, timeout=30)
    with Gradebook(f"sqlite:///{c.root / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment(SLUG, duedate=DUE)
    return c


def graded(downloads, name, folder="downloads", **kw):
    root, _, roster = downloads
    c = course_for(root, name)
    marks = root / f"{name}-drill"
    marks.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(DRILL, f"s10={marks}")
        mp.setenv("CUDA_VISIBLE_DEVICES", "0,1")
        summary = grade_class.grade(c.root, SLUG, root / folder, roster, log=lambda m: None, **kw)
    return c, summary, marks


MODES = {"local": ("downloads", {}), "on_dask": ("dask-downloads", {"cluster": True})}


@pytest.fixture(scope="module", params=list(MODES))
def run(request, downloads):
    """Each mode grades its class once: a module-scoped parametrized fixture (one obtained with
    getfixturevalue from a function-scoped one was built again for each test)."""
    folder, kw = MODES[request.param]
    return graded(downloads, request.param, folder, **kw)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """Each distinct notebook of the class graded by a plain serial `nbgrader autograde`."""
    c = Course(tmp_path_factory.mktemp("serial"), SLUG, timeout=30)
    for kind, data in contents().items():
        c.submit(kind, nbformat.reads(data, as_version=4))
    c.autograde()
    return c.scores()


def exported(c) -> dict[str, float | None]:
    with open(c.root / f"{SLUG}-lms.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["max_score"] for r in rows} == {"10.0"}
    return {r["student_id"]: float(r["score"]) if r["score"] else None for r in rows}


def kinds(c) -> dict[str, str]:
    """student -> kind of notebook, for the students that run was handed."""
    return {sid: k for sid, k in KINDS.items() if c.root.name == "local" or sid in ON_DASK}


def test_collect_matches_names_zips_and_copies(downloads):
    root, d, roster = downloads
    found = classroom.collect(d, classroom.read_roster(roster), SLUG, [SLUG])
    assert sorted(found.placed) == sorted([*KINDS, "s06"])
    assert list(found.unmatched[0].origin.split("/"))[-1] == f"Copy of {SLUG} (2).ipynb"
    assert len(found.unmatched) == 1 and "no roster student" in found.unmatched[0].note
    assert [f.origin for f in found.ignored] == [f"moodle-all.zip!Niklaus Wirth_4712_assignsubmission_file_/{SLUG} (1).ipynb"]


def test_grades_equal_serial_nbgrader(run, serial):
    c, summary, _ = run
    assert serial["correct"] == 10 and serial["unchanged"] == 0      # the reference is sane
    graded = {sid: serial[kind] for sid, kind in kinds(c).items()}
    assert summary["graded"] == graded
    # every roster student exported: nothing handed in is 0, could not be graded has no score
    assert exported(c) == {**{sid: 0.0 for sid, *_ in ROSTER}, **graded, "s06": None}


def test_each_job_on_a_gpu_of_its_own(run):
    c, summary, _ = run
    assert summary["gpus"] == ["0", "1"] and summary["workers"] == 2   # one worker per GPU
    assert sorted(summary["devices"]) == sorted(kinds(c))
    assert set(summary["devices"].values()) <= {"0", "1"}


def test_failures_late_unmatched_and_missing_reported(run):
    c, summary, _ = run
    assert list(summary["failed"]) == ["s06"]
    assert summary["failed"]["s06"].startswith("could not be graded: ch01_cpu_vs_gpu.ipynb is not a readable notebook")
    assert list(summary["late"]) == ["s08"] and 36 * 3600 <= summary["late"]["s08"] <= 37 * 3600
    local = c.root.name == "local"
    assert list(summary["unmatched"]) == ([f"Copy of {SLUG} (2).ipynb"] if local else [])
    assert summary["missing"] == sorted({sid for sid, *_ in ROSTER} - set(kinds(c)) - {"s06"})


def test_one_row_per_submission(run):
    c, _, _ = run
    with sqlite3.connect(c.root / "gradebook.db") as db:
        subs = db.execute("select student_id, count(*) from submitted_assignment group by student_id").fetchall()
        grades = db.execute("select count(*) from grade").fetchone()[0]
    assert sorted(subs) == [(sid, 1) for sid in sorted(kinds(c))]
    assert grades == 4 * len(kinds(c))                                # four graded cells each
    for sid in kinds(c):
        assert (c.root / "feedback" / sid / SLUG / f"{SLUG}.html").exists()


def test_killed_worker_is_retried(run):
    c, summary, marks = run
    assert (marks / "s10.killed").exists()                            # its first worker died
    assert summary["graded"]["s10"] == 10


def test_rerun_grades_nothing_new(run, downloads):
    c, first, _ = run
    root, _, roster = downloads
    again = grade_class.grade(c.root, SLUG, root / MODES[c.root.name][0], roster, workers=2, log=lambda m: None)
    assert again["graded"] == {} and again["failed"] == {}
    assert sorted(again["unchanged"]) == sorted([*kinds(c), "s06"])
    assert exported(c) == {**{sid: 0.0 for sid, *_ in ROSTER}, **first["graded"], "s06": None}


def test_gpus_from_the_environment(monkeypatch):
    from autograder.grading import batch
    for visible, devices in [("2,3", ["2", "3"]), ("", []), ("-1", []), ("GPU-5d1c, GPU-77ab", ["GPU-5d1c", "GPU-77ab"])]:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
        assert batch.gpus() == devices
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("PATH", "/nonexistent")                         # no nvidia-smi: no GPU
    assert batch.gpus() == []


def test_dask_keeps_the_template_when_its_only_holder_dies(tmp_path, monkeypatch):
    """One worker, killed by the drill on its first job: the jobs after it still get the template
    (CI lost a scattered template this way: Dask keeps one copy, and a worker's death takes it)."""
    from autograder.grading import batch
    monkeypatch.setenv(DRILL, f"a={tmp_path}")
    broken = {f"{SLUG}.ipynb": b'{"cells": [ not json'}   # fails fast, after the template arrived
    jobs = [{"student": s, "assignment": SLUG, "digest": s * 12, "files": broken} for s in "abc"]
    got = {}
    batch.run_dask(jobs, {"nbgrader_config.py": b""}, 1, None, lambda job, _, why: got.setdefault(job["student"], why))
    assert (tmp_path / "a.killed").exists()
    assert sorted(got) == ["a", "b", "c"]
    assert all("is not a readable notebook" in why for why in got.values()), got

"""Grading a whole class with one command: collect, grade in parallel, merge, feed back, export.

    python3 dev.py grade ASSIGNMENT --from DOWNLOADS --roster roster.csv
                         [--workers N] [--force] [--cluster [ADDRESS]]

Why this order: the submissions are placed where nbgrader expects them (`classroom`), graded one
per job in private courses (`batch`), and only this process writes the course's gradebook, one
submission at a time, as each job ends (`merge`, with nbgrader's own `Gradebook` API: the same
rows nbgrader's autograde writes, found by cell name, so a regrade updates them instead of adding
any). `.grading/<assignment>.json` keeps each student's digest (notebook and timestamp): a rerun
grades only what is new or changed (or failed for a reason other than the notebook), unless --force. Then nbgrader's generate_feedback and export,
and a CSV in the shape an LMS imports (student id, score, maximum): every roster student has a
row (one who handed nothing in scores 0, as in nbgrader's export), except that a submission
that could not be graded has an empty score, so that the LMS records no grade rather than a 0.

Workers: one per GPU where the machine has GPUs (`batch.gpus`; each job then sees only its own
device), else one per core; `--workers` asks for fewer (or, without GPUs, more).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import batch, classroom


def nbgrader(course: Path, *args) -> subprocess.CompletedProcess:
    from .release import tool_env
    return subprocess.run([sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"], cwd=course,
                          capture_output=True, text=True, env=tool_env())


def _source(course: Path) -> str:
    """The course's source directory (nbgrader's `source`, or what its config names)."""
    text = (course / "nbgrader_config.py").read_text() if (course / "nbgrader_config.py").exists() else ""
    for line in text.splitlines():
        if line.replace(" ", "").startswith("c.CourseDirectory.source_directory="):
            return line.split("=", 1)[1].strip().strip("\"'")
    return "source"


def ensure_assignment(course: Path, assignment: str) -> None:
    """The assignment and its hidden tests in the course's gradebook (generate_assignment, its
    release written to a scratch folder so that the course's own release is left alone)."""
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        try:
            if gb.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory() as scratch:
        done = nbgrader(course, "generate_assignment", assignment, "--force",
                        f"--CourseDirectory.release_directory={scratch}")
    if done.returncode:
        raise SystemExit(f"nbgrader generate_assignment {assignment} failed:\n{done.stderr[-2000:]}")


def template(course: Path, assignment: str) -> dict[str, bytes]:
    """What a private grading course needs: the config, the assignment's source, and a copy of
    the gradebook with no submissions (the assignment, its due date and hidden tests stay)."""
    from nbgrader.api import Gradebook
    src = _source(course)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "gradebook.db"
        with sqlite3.connect(course / "gradebook.db") as a, sqlite3.connect(db) as b:
            a.backup(b)
        with Gradebook(f"sqlite:///{db}") as gb:
            for a_ in gb.assignments:
                for sub in list(a_.submissions):
                    gb.remove_submission(a_.name, sub.student_id)
        files = {"gradebook.db": db.read_bytes()}
    files["nbgrader_config.py"] = (course / "nbgrader_config.py").read_bytes()
    for rel, data in batch.files_of(course / src / assignment).items():
        files[f"{src}/{assignment}/{rel}"] = data
    return files


def merge(course: Path, assignment: str, student: classroom.Student, result: dict) -> tuple:
    """Write one graded submission into the course's gradebook: auto scores, late penalties and
    auto comments; an instructor's manual scores and comments are kept. Returns (score, seconds late)."""
    import warnings
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb, warnings.catch_warnings():
        # nbgrader's add_submission builds its rows before adding them (SQLAlchemy 2 warns, as it
        # does in nbgrader's own autograde); they are added and committed right after
        warnings.simplefilter("ignore", SAWarning)
        gb.update_or_create_student(student.id, first_name=student.first_name or None,
                                    last_name=student.last_name or None, email=student.email or None)
        sub = gb.update_or_create_submission(assignment, student.id, timestamp=result["timestamp"])
        for name, nb in result["notebooks"].items():
            snb = gb.find_submission_notebook(name, assignment, student.id)
            snb.late_submission_penalty = nb["late_submission_penalty"]
            for cell, g in nb["grades"].items():
                row = gb.find_grade(cell, name, assignment, student.id)
                row.auto_score, row.needs_manual_grade = g["auto_score"], g["needs_manual_grade"]
            for cell, c in nb["comments"].items():
                gb.find_comment(cell, name, assignment, student.id).auto_comment = c["auto_comment"]
        gb.db.commit()
        score, late = sub.score, sub.total_seconds_late
    folder = course / "autograded" / student.id / assignment
    shutil.rmtree(folder, ignore_errors=True)
    batch._write(folder, result["files"])
    return score, late


def _roster_rows(course: Path, roster: dict, students: list[str]) -> None:
    """The roster's students in the gradebook (names and emails as the roster has them), so that
    every export has a row for each, whether or not a submission of theirs was graded."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sid in students:
            s = roster[sid]
            gb.update_or_create_student(sid, first_name=s.first_name or None,
                                        last_name=s.last_name or None, email=s.email or None)


def export(course: Path, assignment: str, ungraded: set[str] = frozenset()) -> Path:
    """nbgrader's grades.csv, and <assignment>-lms.csv: student id, score, maximum (the score
    left empty for the `ungraded`: their submission could not be graded)."""
    done = nbgrader(course, "export")
    if done.returncode:
        raise SystemExit(f"nbgrader export failed:\n{done.stderr[-2000:]}")
    out = course / f"{assignment}-lms.csv"
    with open(course / "grades.csv") as f, open(out, "w", newline="") as g:
        w = csv.writer(g)
        w.writerow(["student_id", "score", "max_score"])
        for row in csv.DictReader(f):
            if row["assignment"] == assignment:
                score = "" if row["student_id"] in ungraded else row["score"]
                w.writerow([row["student_id"], score, row["max_score"]])
    return out


def grade(course: Path, assignment: str, downloads: Path, roster_csv: Path, workers: int = 0,
          force: bool = False, cluster: str | bool | None = None, log=print) -> dict:
    """The whole command; returns the summary (also printed through `log`)."""
    devices = batch.gpus()
    workers = min(workers or len(devices), len(devices)) if devices else workers or os.cpu_count() or 1
    devices = devices[:workers]
    roster = classroom.read_roster(roster_csv)
    ensure_assignment(course, assignment)
    notebooks = sorted(p.stem for p in (course / _source(course) / assignment).glob("*.ipynb"))
    found = classroom.collect(downloads, roster, assignment, notebooks)
    state_file = course / ".grading" / f"{assignment}.json"
    state = json.loads(state_file.read_text()) if state_file.exists() and not force else {}
    # new or changed, or failed for a reason other than the notebook itself (a dying worker)
    todo = [s for s in sorted(found.placed) if state.get(s, {}).get("digest") != found.digest(s)
            or state[s].get("status") == "failed" and "not a readable notebook" not in state[s]["reason"]]
    classroom.place(course, assignment, found, todo)
    summary = {"graded": {}, "failed": {}, "late": {}, "unchanged": sorted(set(found.placed) - set(todo)),
               "unmatched": {f.origin: f.note for f in found.unmatched},
               "ignored": {f.origin: f.note for f in found.ignored}, "workers": workers,
               "gpus": devices, "devices": {}, "missing": sorted(set(roster) - set(found.placed))}
    _roster_rows(course, roster, list(roster))
    log(f"{assignment}: {len(found.placed)} students matched, {len(todo)} to grade, "
        f"{len(summary['unchanged'])} unchanged, {len(found.unmatched)} unmatched")
    t0, count = time.time(), [0]

    def report(job, result, error):
        sid, count[0] = job["student"], count[0] + 1
        if result is not None:
            try:
                score, late = merge(course, assignment, roster[sid], result)
            except Exception as exc:        # noqa: BLE001 (recorded; the batch goes on)
                result, error = None, f"its result could not be merged ({type(exc).__name__}: {exc})"
        if result is not None:
            summary["graded"][sid] = score
            if result.get("gpu") is not None:
                summary["devices"][sid] = result["gpu"]
            if late:
                summary["late"][sid] = late
            state[sid] = {"digest": job["digest"], "status": "graded", "score": score}
            line = f"graded {score:g}" + (f", {late:.0f} s late" if late else "")
        else:
            summary["failed"][sid] = f"could not be graded: {error}"
            state[sid] = {"digest": job["digest"], "status": "failed", "reason": error}
            line = f"could not be graded: {error}"
        state_file.parent.mkdir(exist_ok=True)
        state_file.write_text(json.dumps(state, indent=1))
        log(f"[{count[0]}/{len(todo)} {time.time() - t0:5.0f} s] {sid}: {line}")

    jobs = []
    for sid in todo:
        files = batch.files_of(course / "submitted" / sid / assignment)
        jobs.append({"student": sid, "assignment": assignment, "files": files, "digest": found.digest(sid)})
    if jobs:
        shipped = template(course, assignment)
        if cluster is not None and cluster is not False:
            batch.run_dask(jobs, shipped, workers, cluster if isinstance(cluster, str) else None, report,
                           devices)
        else:
            batch.run_local(jobs, shipped, workers, report, devices)
        done = nbgrader(course, "generate_feedback", assignment, "--force")
        if done.returncode:
            log(f"generate_feedback reported an error:\n{done.stderr[-1500:]}")
    summary["seconds"] = round(time.time() - t0, 1)
    ungraded = {sid for sid, st in state.items() if st.get("status") == "failed"}
    summary["lms_csv"] = str(export(course, assignment, ungraded))
    _print_summary(summary, log)
    return summary


def _print_summary(s: dict, log) -> None:
    log(f"\n{len(s['graded'])} graded, {len(s['failed'])} failed, {len(s['late'])} late, "
        f"{len(s['unchanged'])} unchanged (not regraded), {len(s['unmatched'])} unmatched, "
        f"{len(s['missing'])} on the roster with no submission, in {s['seconds']} s with "
        f"{s['workers']} workers" + (f" on GPUs {','.join(s['gpus'])}" if s["gpus"] else " (no GPU)"))
    for sid in s["missing"]:
        log(f"  missing    {sid}: nothing handed in (exported as 0)")
    for sid, why in s["failed"].items():
        log(f"  failed     {sid}: {why} (exported without a score)")
    for sid, secs in s["late"].items():
        log(f"  late       {sid}: {secs / 3600:.1f} h after the due date")
    for origin, why in s["unmatched"].items():
        log(f"  unmatched  {origin}: {why}")
    for origin, why in s["ignored"].items():
        log(f"  ignored    {origin}: {why}")
    log(f"exports: grades.csv (nbgrader) and {s['lms_csv']}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="dev.py grade", description=__doc__.splitlines()[0])
    p.add_argument("assignment")
    p.add_argument("--from", dest="downloads", required=True, type=Path, help="folder of downloads")
    p.add_argument("--roster", required=True, type=Path, help="CSV with student_id (first_name, last_name, email)")
    p.add_argument("--workers", type=int, default=0, help="parallel jobs (default: one per GPU, or one per core without GPUs)")
    p.add_argument("--force", action="store_true", help="regrade every submission")
    p.add_argument("--cluster", nargs="?", const=True, default=None,
                   help="grade on Dask: a LocalCluster, or the scheduler at ADDRESS")
    p.add_argument("--course", type=Path, default=Path.cwd(), help="nbgrader course folder")
    a = p.parse_args(argv)
    s = grade(a.course.resolve(), a.assignment, a.downloads.resolve(), a.roster.resolve(), a.workers,
              a.force, a.cluster, log=lambda m: print(m, flush=True))
    return 1 if s["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

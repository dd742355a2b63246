"""A class's submissions, from what the LMS or Colab hands the instructor, into nbgrader's layout.

Students' files arrive as a folder of downloads: loose notebooks renamed by Colab and the browser
(`Copy of ch03_thread_hierarchy.ipynb`, `ch03_thread_hierarchy (1).ipynb`), zip files (one per
student, or the LMS's "download all", a folder per student inside), named after the student in the
LMS's way (`Ada Lovelace_4711_assignsubmission_file_`, `lovelaceada_4711_...`). nbgrader wants
`submitted/<student_id>/<assignment>/<notebook>.ipynb`, with a `timestamp.txt` for its late
penalties. `collect` maps each file to one roster row by the student's id or name in its path
and places it there; what matches nobody, or more than one student, is reported, never guessed.
"""
from __future__ import annotations

import csv
import hashlib
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path


@dataclass
class Student:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""

    def names(self) -> list[list[str]]:
        """The token sequences that name this student in a file name (first last, last first)."""
        first, last = _tokens(self.first_name), _tokens(self.last_name)
        out = [first + last, last + first, ["".join(last + first)], ["".join(first + last)]]
        return [n for n in out if n and (first and last)]


@dataclass
class Found:
    """One notebook found in the downloads: where it came from, its bytes, when it was handed in."""
    origin: str                 # the path as the instructor sees it (zip!member for a zip)
    data: bytes
    when: datetime
    student: str | None = None
    notebook: str | None = None
    note: str = ""


@dataclass
class Collected:
    placed: dict[str, Found] = field(default_factory=dict)      # student id -> what was placed
    unmatched: list[Found] = field(default_factory=list)
    ignored: list[Found] = field(default_factory=list)          # older copies of a student's work

    def digest(self, student: str) -> str:
        f = self.placed[student]
        return hashlib.sha256(f.data + f.when.isoformat().encode()).hexdigest()


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^0-9a-z]+", text.lower()) if t]


def read_roster(path: Path) -> dict[str, Student]:
    """A roster CSV: a `student_id` (or `id`, or the first) column; first_name, last_name (or
    name) and email where present."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for row in rows:
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        sid = row.get("student_id") or row.get("id") or next(iter(row.values()), "")
        first, last = row.get("first_name", ""), row.get("last_name", "")
        if not (first or last) and row.get("name"):
            first, _, last = row["name"].partition(" ")
        if sid:
            out[sid] = Student(sid, first, last, row.get("email", ""))
    return out


def _contains(tokens: list[str], seq: list[str]) -> bool:
    n = len(seq)
    return any(tokens[i:i + n] == seq for i in range(len(tokens) - n + 1))


def match(origin: str, roster: dict[str, Student], ignore: set[str]) -> list[str]:
    """The roster ids whose id or name appears in `origin`'s tokens (the assignment's own words,
    `copy`, `of`, ... left out)."""
    tokens = [t for t in _tokens(origin) if t not in ignore]
    hits = []
    for s in roster.values():
        sid = _tokens(s.id)
        if (sid and _contains(tokens, sid)) or any(_contains(tokens, n) for n in s.names()):
            hits.append(s.id)
    return hits


def _found(downloads: Path) -> list[Found]:
    out = []
    for path in sorted(downloads.rglob("*")):
        rel = str(path.relative_to(downloads))
        if path.suffix == ".ipynb" and ".ipynb_checkpoints" not in path.parts:
            when = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            out.append(Found(rel, path.read_bytes(), when))
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    if info.filename.endswith(".ipynb") and "__MACOSX" not in info.filename \
                            and ".ipynb_checkpoints" not in info.filename:
                        when = datetime(*info.date_time, tzinfo=timezone.utc)
                        out.append(Found(f"{rel}!{info.filename}", z.read(info), when))
    return out


def _notebook_for(origin: str, notebooks: list[str]) -> str | None:
    name = Path(origin.split("!")[-1]).name.lower()
    named = [n for n in notebooks if n.lower() in name]
    if len(named) == 1:
        return named[0]
    return notebooks[0] if len(notebooks) == 1 else None


def collect(downloads: Path, roster: dict[str, Student], assignment: str,
            notebooks: list[str]) -> Collected:
    """Every notebook in `downloads` matched to a student and to one of the assignment's
    `notebooks` (by name, or the only one); a student's latest copy wins."""
    ignore = set(_tokens(assignment)) | {t for n in notebooks for t in _tokens(n)} | {
        "copy", "of", "ipynb", "zip", "assignsubmission", "file", "onlinetext", "submission"}
    done = Collected()
    for f in _found(downloads):
        hits = match(f.origin, roster, ignore)
        f.notebook = _notebook_for(f.origin, notebooks)
        if len(hits) != 1 or f.notebook is None:
            f.note = ("no roster student in its name" if not hits else
                      f"names several students ({', '.join(hits)})" if len(hits) > 1 else
                      "matches none of the assignment's notebooks")
            done.unmatched.append(f)
            continue
        f.student = hits[0]
        old = done.placed.get(f.student)
        if old is None or f.when > old.when:
            if old is not None:
                old.note = f"an older copy than {f.origin}"
                done.ignored.append(old)
            done.placed[f.student] = f
        else:
            f.note = f"an older copy than {old.origin}"
            done.ignored.append(f)
    return done


def place(course: Path, assignment: str, done: Collected, students: list[str]) -> None:
    """Write each given student's notebook as nbgrader's submitted/<id>/<assignment>/, with its
    timestamp (what nbgrader's late penalties read)."""
    for sid in students:
        f = done.placed[sid]
        folder = course / "submitted" / sid / assignment
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / f"{f.notebook}.ipynb").write_bytes(f.data)
        (folder / "timestamp.txt").write_text(f.when.isoformat())

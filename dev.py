#!/usr/bin/env python3
"""The course's commands, runnable on a fresh machine that has nothing but Python.

    python3 dev.py book         install what is needed, build the book from clean
    python3 dev.py test         install what is needed, run the tests (what CI runs)
    python3 dev.py exercises    regenerate exercises/ from solutions/ with nbgrader
    python3 dev.py grade ASSIGNMENT --from DOWNLOADS --roster roster.csv [--workers N] [--force]
                         [--cluster [ADDRESS]]   collect, autograde in parallel, feed back, export
    python3 dev.py gpu-bundle [DIR]           beforehand, with the registries: the wheels a bare
                                              GPU machine lacks, for CPython 3.12 x86-64 (gpu-bundle/)
    python3 dev.py gpu-figures --wheels DIR   on a GPU machine, offline: measure, write results/*.json
        [--only ch01,ch05] [--dry-run]        (--dry-run: the same steps on this CPU, in a temporary folder)

`book`, `test` and `exercises` work inside .venv, made and filled from requirements.txt
on first use (again only when requirements.txt or pyproject.toml change). `gpu-figures`
uses the interpreter that runs it, so a GPU machine's own torch/cupy/numba are measured;
`gpu-bundle` runs pip from .venv.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = ROOT / ".venv-stamp"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def run(*cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    # tools find their helpers (nbgrader calls `alembic`, jupyter its kernels) on PATH
    env = dict(os.environ, PATH=f"{Path(cmd[0]).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env, **kw).returncode


def venv():
    """Make .venv and install requirements.txt into it, unless that is already done."""
    digest = hashlib.sha256(
        b"".join((ROOT / f).read_bytes() for f in ("requirements.txt", "pyproject.toml"))
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and (BIN / "python").exists():
        return BIN / "python"
    t0 = time.time()
    if not (BIN / "python").exists():
        if run(sys.executable, "-m", "venv", VENV):
            sys.exit("could not create .venv (on Debian/Ubuntu: apt-get install python3-venv)")
    py = BIN / "python"
    if run(py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
           "-r", "requirements.txt"):
        sys.exit("pip could not install requirements.txt (see its message above)")
    STAMP.write_text(digest)
    print(f"installed the course stack into .venv in {time.time() - t0:.0f} s", flush=True)
    return py


def book():
    py = venv()
    shutil.rmtree(ROOT / "_build", ignore_errors=True)  # incremental builds hide warnings
    rc = run(BIN / "jupyter-book", "build", "--all", "-W", "-n", "--keep-going", ".")
    if rc == 0:
        print(f"\nThe book is at {ROOT / '_build' / 'html' / 'index.html'}")
    return rc


def test(*args):
    py = venv()
    # one worker per core: most tests wait on a subprocess (a notebook, nbgrader, a kernel);
    # the slowest tests are listed at the end, to keep the suite's time in sight; each module
    # runs on one worker, so that its module fixtures (a class graded, a course built) are built
    # once (loadgroup's marks are ignored under pytest 9.2: pytest-xdist issue #1386)
    return run(py, "-m", "pytest", "-n", "auto", "--dist", "loadscope", "--durations=12", *args)


def exercises():
    return run(venv(), "-m", "autograder.grading.release")


def grade(*args):
    return run(venv(), "-m", "autograder.grading.grade_class", *args)


def gpu_bundle(folder="gpu-bundle"):
    return run(venv(), "-m", "autograder.grading.bundle", Path(folder).resolve())


def gpu_figures(*args):
    return run(sys.executable, "-u", "-m", "autograder.grading.record", *args)


COMMANDS = {"book": book, "test": test, "exercises": exercises, "grade": grade,
            "gpu-bundle": gpu_bundle,
            "gpu-figures": gpu_figures}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))

"""The sandbox a graded notebook runs in, one defence at a time (the gauntlet grades whole hostile
notebooks through it): each test runs a small command inside and checks what it could not do."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.grading import sandbox

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bubblewrap: Linux only")


def inside(box: sandbox.Sandbox, code: str, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(box.command([sys.executable, "-c", code]), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def box(tmp_path):
    sandbox.check()
    secret = tmp_path / "course"
    (secret / "solutions").mkdir(parents=True)
    (secret / "gradebook.db").write_text("grades")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return sandbox.Sandbox([scratch], hide=[secret]), scratch, secret


def test_hidden_folders_are_empty_and_scratch_is_the_only_place_to_write(box, tmp_path):
    b, scratch, secret = box
    done = inside(b, f"""
import os, pathlib
print(sorted(os.listdir({str(secret)!r})))
pathlib.Path("mine.txt").write_text("ok")
for target in [{str(tmp_path / 'outside.txt')!r}, {sys.prefix + '/planted.py'!r}]:
    try:
        open(target, "w").write("x")
        print("WROTE", target)
    except OSError as exc:
        print("refused", type(exc).__name__)
""")
    assert done.returncode == 0, done.stderr
    hidden, in_tmp, in_env = done.stdout.splitlines()
    assert hidden == "[]" and in_env == "refused OSError", done.stdout   # in_tmp: its private /tmp
    assert (scratch / "mine.txt").read_text() == "ok"
    assert not (tmp_path / "outside.txt").exists() and (secret / "gradebook.db").read_text() == "grades"


def test_no_network(box):
    b, _, _ = box
    done = inside(b, """
import socket
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    print("CONNECTED")
except OSError as exc:
    print("no network")
print(sorted(n for _, n in socket.if_nameindex()))
""")
    assert done.stdout.splitlines() == ["no network", "['lo']"], (done.stdout, done.stderr)


def test_nothing_it_started_survives_it(box):
    """A process that leaves a new session behind (as a student's may, to edit files after
    nbgrader saved them) dies with the sandbox: its own PID namespace."""
    b, scratch, _ = box
    late = scratch / "late.txt"
    done = inside(b, f"""
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time, pathlib; time.sleep(3); pathlib.Path({str(late)!r}).write_text('x')"],
                 start_new_session=True)
print("left it running")
""")
    assert done.stdout.strip() == "left it running", done.stderr
    time.sleep(5)
    assert not late.exists()


def test_the_graders_environment_is_not_told(box, monkeypatch):
    b, _, _ = box
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    done = inside(b, "import os; print(os.environ.get('NBGRADER_EXECUTION'), os.environ['HOME'] == os.getcwd())")
    assert done.stdout.strip() == "None True", done.stderr


def test_gpu_devices_only_where_the_machine_has_them(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_FORCE_CPU", raising=False)
    assert sandbox.gpu_devices() == any(Path("/dev").glob("nvidia[0-9]*"))
    monkeypatch.setenv("COURSE_FORCE_CPU", "1")
    assert sandbox.gpu_devices() is False
    plain = sandbox.Sandbox([tmp_path]).command(["true"])
    gpu = sandbox.Sandbox([tmp_path], gpu=True).command(["true"])
    assert "--dev-bind" not in plain and gpu[gpu.index("--dev-bind"):][:3] == ["--dev-bind", "/dev", "/dev"]

